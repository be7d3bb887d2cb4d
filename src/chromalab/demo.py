"""``make demo``: colorize the sample photos that ship with scikit-image and scikit-learn.

Each photo is turned grey, colorized with the bundled model, and written to OUTDIR as one sheet:
grey input | colorization | original. ``python -m chromalab.demo OUTDIR``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def sample_photos() -> dict[str, Callable[[], np.ndarray]]:
    """name -> loader of a uint8 RGB photo, from whichever of the two packages is installed."""
    photos: dict[str, Callable[[], np.ndarray]] = {}
    try:
        import skimage.data

        photos.update(
            astronaut=skimage.data.astronaut, coffee=skimage.data.coffee, chelsea=skimage.data.chelsea
        )
    except ImportError:
        pass
    try:
        from sklearn.datasets import load_sample_image

        photos.update(
            china=lambda: load_sample_image("china.jpg"), flower=lambda: load_sample_image("flower.jpg")
        )
    except ImportError:
        pass
    return photos


def main(out_dir: Path) -> int:
    from chromalab.colorize.torch_backend import Colorizer
    from chromalab.images import save_image

    try:
        colorizer = Colorizer.load("default")
    except FileNotFoundError as error:
        print(f"error: demo: {error}", file=sys.stderr)
        return 1
    photos = sample_photos()
    if not photos:
        print(
            "error: demo: neither scikit-image nor scikit-learn is installed (pip install -e '.[test]')",
            file=sys.stderr,
        )
        return 1
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, load in photos.items():
        original = Image.fromarray(load()).convert("RGB")
        grey = original.convert("L")
        color = colorizer.colorize(grey)
        sheet = np.concatenate(
            [np.asarray(grey.convert("RGB")), np.asarray(color), np.asarray(original)], axis=1
        )
        target = out_dir / f"{name}.png"
        save_image(Image.fromarray(sheet), target)
        print(f"{target}  (grey | colorized | original)")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "out")))
