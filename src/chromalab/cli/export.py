"""``chromalab export``: a model file as an ONNX graph, checked against torch on a real-looking input."""

from __future__ import annotations

from pathlib import Path

import typer

from chromalab.cli.app import app, usage_error


@app.command()
def export(
    model: str = typer.Argument(..., help="A bundled model ('default', 'fast-v1') or a .safetensors model file."),
    out: Path = typer.Option(..., "-o", "--out", help="The .onnx file to write."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Write a model as ONNX for 'chromalab colorize --engine onnx' (onnxruntime, no torch: faster start)."""
    import importlib.util

    from chromalab.colorize.options import DEFAULT_MODEL, bundled_names, bundled_weights

    source = bundled_weights(model) if model == DEFAULT_MODEL or model in bundled_names() else Path(model)
    if not source.is_file():
        usage_error(f"model file not found: {source}")
    if out.suffix != ".onnx":
        usage_error(f"-o must end in .onnx, got {out}")
    if out.exists() and not overwrite:
        usage_error(f"{out} exists (pass --overwrite to replace it)")
    if importlib.util.find_spec("onnx") is None:
        usage_error("export needs the onnx package: pip install 'chromalab[export]'")
    from chromalab.colorize.export import export_onnx, largest_difference

    try:
        export_onnx(source, out)
    except (ValueError, OSError) as error:
        usage_error(str(error))
    difference = largest_difference(source, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); ab differs from torch by at most {difference:.1e}")

