"""``chromalab export``: a model file as an ONNX graph, checked against torch on a real-looking input; or a
copy of the model file with the settings it recommends (``--recommend``), as the bundled models are made."""

from __future__ import annotations

from pathlib import Path

import typer

from chromalab.cli.app import app, usage_error


@app.command()
def export(
    model: str = typer.Argument(
        ..., help="A bundled model ('default', 'fast-v1') or a .safetensors model file."
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
        help="KEY=VALUE, repeatable: what colorize uses when "
        "not told: size (view side), temperature, decode.",
    ),
    data: str = typer.Option(
        None,
        "--data",
        help="With --recommend: what the model was trained on, stored in "
        "place of the training machine's cache path (for a file you ship).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Write a model as ONNX for 'chromalab colorize --engine onnx' (onnxruntime, no torch: faster start), or
    as a model file that recommends its own view size and temperature."""
    import importlib.util
    import tempfile

    from chromalab.colorize.options import bundled_weights, is_bundled

    source = bundled_weights(model) if is_bundled(model) else Path(model)
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
        _export(source, out)


def _export(source: Path, out: Path) -> None:
    from chromalab.colorize.export import export_onnx, largest_difference

    try:
        export_onnx(source, out)
    except (ValueError, OSError) as error:
        usage_error(str(error))
    difference = largest_difference(source, out)
    print(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); ab differs from torch by at most {difference:.1e}"
    )


def _recommend(source: Path, out: Path, defaults: dict, data: str | None) -> None:
    from chromalab.models.checkpoint import recommend

    try:
        recommend(source, out, defaults, data=data)
    except (ValueError, OSError) as error:
        usage_error(str(error))


def _recommendations(pairs: list[str]) -> dict[str, object]:
    """--recommend KEY=VALUE pairs -> {key: checked value}; exits 2 on a bad one."""
    from chromalab.colorize.options import RECOMMENDABLE, check_decode, check_size, check_temperature

    checks = {
        "size": lambda v: check_size(int(v)),
        "temperature": lambda v: check_temperature(float(v)),
        "decode": check_decode,
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
