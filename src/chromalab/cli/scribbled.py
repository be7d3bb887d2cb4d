"""The scribbles part of ``chromalab colorize``: one photo and its colour strokes (``--scribbles``), spread
over the model's colorization, or over nothing with ``--model none``."""

from __future__ import annotations

from pathlib import Path

from chromalab.cli.app import open_colorizer, usage_error

NO_MODEL = "none"  # --model none: the strokes alone (Levin et al. 2004)


def colorize_scribbled_photo(jobs: list[tuple[Path, Path]], scribbles: Path, out_dir: Path, *, model: str,
                             options: dict, overwrite: bool) -> Path:
    """The one photo in ``jobs`` with ``scribbles`` to ``out_dir``; exits 2 with one line on any problem."""
    from chromalab.colorize.batch import claim_target, identity
    from chromalab.colorize.scribbles import colorize_scribbled
    from chromalab.images import ImageError, open_image, output_path, save_image
    from chromalab.video.kinds import is_video

    if len(jobs) != 1 or is_video(jobs[0][0]):
        usage_error(f"--scribbles colours one photo per call; got {len(jobs)} inputs"
                    if len(jobs) != 1 else f"--scribbles colours photos, not videos: {jobs[0][0]}")
    if not scribbles.is_file():
        usage_error(f"--scribbles {scribbles}: no such file")
    (source, relative), = jobs
    colorizer = None if model == NO_MODEL else open_colorizer(model, engine="torch", **options)
    try:
        image = open_image(source)
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        target = claim_target(output_path(relative, out_dir / relative.parent, alpha=has_alpha),
                              taken=set(), inputs={identity(source), identity(scribbles)}, overwrite=overwrite)
        result = colorize_scribbled(image, scribbles, colorizer=colorizer, temperature=options.get("temperature"))
        target.parent.mkdir(parents=True, exist_ok=True)
        save_image(result, target)
    except (ImageError, ValueError) as error:
        usage_error(f"{source}: {error}")
    except OSError as error:
        usage_error(f"{source}: {error.strerror or error}")
    return target
