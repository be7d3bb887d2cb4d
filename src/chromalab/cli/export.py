"""``chromalab export``: a model file as an ONNX graph, checked against torch on a real-looking input, in fp32
or in int8 (``--quantize int8``, calibrated on photos); or a copy of the model file with the settings it
recommends (``--recommend``), as the bundled models are made."""

from __future__ import annotations

from pathlib import Path

import typer

from chromalab.cli.app import app, model_file_of, usage_error


@app.command()
def export(
    model: str = typer.Argument(
        ..., help="A bundled model ('default', 'fast-v1'), a .safetensors model file or a run folder."
    ),
    out: Path = typer.Option(
        ...,
        "-o",
        "--out",
        help="The .onnx graph to write, or a .safetensors copy of the model file (with --recommend).",
    ),
    recommend: list[str] = typer.Option(
        [],
        "--recommend",
        help="KEY=VALUE, repeatable: what colorize uses when not told: size (view side), temperature, "
        "decode, min_view (a photo smaller than it is upscaled to it for the view; 0: never).",
    ),
    data: str = typer.Option(
        None,
        "--data",
        help="With --recommend: what the model was trained on, stored in "
        "place of the training machine's cache path (for a file you ship).",
    ),
    quantize: str = typer.Option(
        None,
        "--quantize",
        help="int8: write OUT (and a hint network's decoder graph beside it) as an int8 graph in place of "
        "the fp32 one: onnxruntime's static quantization, calibrated on --calibration's photos. The bundled "
        "model's: 1.9x faster at 256x256, 0.16 points of rebalanced AuC lower (README, the onnx engine); "
        "the bundled graphs stay fp32.",
    ),
    calibration: Path = typer.Option(
        None,
        "--calibration",
        help="With --quantize: a folder of colour photos like the model's training photos (searched "
        "recursively; 100 of them, evenly spaced, measure the int8 ranges).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Write a model as ONNX for 'chromalab colorize --engine onnx' (onnxruntime, no torch: faster start), or
    as a model file that recommends its own view size and temperature."""
    import importlib.util
    import tempfile

    from chromalab.colorize.options import bundled_weights, is_bundled

    source = bundled_weights(model) if is_bundled(model) else model_file_of(Path(model))
    if not source.is_file():
        usage_error(f"model file not found: {source}")
    if out.suffix not in (".onnx", ".safetensors"):
        usage_error(f"-o must end in .onnx or .safetensors, got {out}")
    if out.suffix == ".safetensors" and not recommend:
        usage_error("a .safetensors copy is for --recommend; to convert, write an .onnx graph")
    if data is not None and not recommend:
        usage_error("--data goes with --recommend (it describes the copy's training data)")
    if out.exists() and not overwrite:
        usage_error(f"{out} exists (pass --overwrite to replace it)")
    photos = _calibration_photos(quantize, calibration, out)
    defaults = _recommendations(recommend)
    if out.suffix == ".safetensors":
        _recommend(source, out, defaults, data)
        print(f"wrote {out} recommending {defaults}")
        return
    if importlib.util.find_spec("onnx") is None:
        usage_error("export needs the onnx package: pip install 'chromalab[train]'")
    with tempfile.TemporaryDirectory() as folder:
        if defaults:
            _recommend(source, Path(folder) / source.name, defaults, data)
            source = Path(folder) / source.name
        _export(source, out, Path(folder), photos)


def _export(source: Path, out: Path, folder: Path, photos: list[Path] | None) -> None:
    """``source`` as the graph ``out``: fp32, or with ``photos`` int8 (the fp32 graph written in ``folder``
    first, then quantized)."""
    from chromalab.colorize.export import export_onnx, largest_difference
    from chromalab.colorize.quantize import quantize_graph

    try:
        if photos is None:
            export_onnx(source, out)
        else:
            export_onnx(source, folder / "fp32.onnx")
            quantize_graph(folder / "fp32.onnx", out, photos=photos)
    except (ValueError, OSError) as error:
        usage_error(str(error))
    difference = largest_difference(source, out)
    kind = "" if photos is None else f"int8, calibrated on {len(photos)} photos, "
    print(
        f"wrote {out} ({kind}{out.stat().st_size / 1e6:.1f} MB); ab differs from torch by at most "
        f"{difference:.1e}"
    )


def _calibration_photos(quantize: str | None, calibration: Path | None, out: Path) -> list[Path] | None:
    """The photos ``--quantize int8`` calibrates on (None: an fp32 graph); exits 2 on bad usage."""
    import importlib.util

    from chromalab.colorize.quantize import CALIBRATION_PHOTOS, QUANTIZATIONS
    from chromalab.images import evenly_spaced, list_images

    if quantize is None:
        if calibration is not None:
            usage_error("--calibration goes with --quantize int8 (its photos measure the int8 ranges)")
        return None
    if quantize not in QUANTIZATIONS:
        usage_error(f"--quantize must be {' or '.join(QUANTIZATIONS)}, got {quantize!r}")
    if out.suffix != ".onnx":
        usage_error(f"--quantize writes an .onnx graph, got -o {out}")
    if calibration is None:
        usage_error("--quantize int8 needs --calibration DIR: colour photos like the training photos")
    if not calibration.is_dir():
        usage_error(f"--calibration {calibration}: no such folder")
    photos = evenly_spaced(list_images(calibration), CALIBRATION_PHOTOS)
    if not photos:
        usage_error(f"--calibration {calibration}: no images in this folder")
    if importlib.util.find_spec("onnxruntime") is None:
        usage_error("--quantize needs onnxruntime: pip install onnxruntime")
    return photos


def _recommend(source: Path, out: Path, defaults: dict, data: str | None) -> None:
    from chromalab.models.checkpoint import recommend

    try:
        recommend(source, out, defaults, data=data)
    except (ValueError, OSError) as error:
        usage_error(str(error))


def _recommendations(pairs: list[str]) -> dict[str, object]:
    """--recommend KEY=VALUE pairs -> {key: checked value}; exits 2 on a bad one."""
    from chromalab.colorize.options import (
        RECOMMENDABLE,
        check_decode,
        check_min_view,
        check_size,
        check_temperature,
    )

    checks = {
        "size": lambda v: check_size(int(v)),
        "temperature": lambda v: check_temperature(float(v)),
        "decode": check_decode,
        "min_view": lambda v: check_min_view(int(v)),
    }
    assert set(checks) == set(RECOMMENDABLE)
    defaults = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in checks or not value:
            usage_error(
                f"--recommend expects KEY=VALUE with KEY one of {', '.join(RECOMMENDABLE)}, got {pair!r}"
            )
        try:
            defaults[key] = checks[key](value)
        except ValueError as error:
            usage_error(f"--recommend {pair}: {error}")
    return defaults
