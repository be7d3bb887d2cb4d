#!/usr/bin/env python3
"""Re-makes the README's two comparison sheets with `chromalab analyze compare`.

    scripts/make-comparison-sheets.py PREVIOUS [--data ../shared/data] [--people LAYOUT/people] [--out docs]

- OUT/default-comparison.jpg: the 13 black-and-white photos of DATA/demo-bw; columns grey input, PREVIOUS
  (a model file: the default trained on scenery alone,
  `git show 15f13ec^:src/chromalab/weights/default.safetensors`) and the bundled `default`.
- OUT/people-comparison.jpg (with --people, the held-out split of scripts/split-training-photos.py): 6 faces
  and 6 photos of people, evenly spaced in people/faces and people/person; columns the truth, grey input,
  PREVIOUS and `default`.
Each model at its own size, temperature and decoding. PREVIOUS is shown as `previous-default`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from chromalab.images import evenly_spaced, list_images

PER_FOLDER = 6


def compare(photos: Path, previous: Path, out: Path, rows: int) -> None:
    command = ["chromalab", "analyze", "compare", str(photos), "-m", str(previous), "-m", "default"]
    subprocess.run([*command, "--limit", str(rows), "-o", str(out)], check=True)
    print(f"wrote {out}")


def people_photos(people: Path, folder: Path) -> int:
    """Links PER_FOLDER evenly spaced photos of each of people/faces and people/person into ``folder``,
    named NN-SUBFOLDER-NAME so that the sheet's rows keep that order; returns how many."""
    count = 0
    for sub in ("faces", "person"):
        for path in evenly_spaced(list_images(people / sub), PER_FOLDER):
            os.symlink(path.resolve(), folder / f"{count:02d}-{sub}-{path.name}")
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("previous", type=Path, help="The earlier default's model file.")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--people", type=Path, default=None, help="The people split (LAYOUT/people).")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    demo = args.data / "demo-bw"
    for folder in [demo] + ([args.people / "faces", args.people / "person"] if args.people else []):
        if not folder.is_dir():
            print(f"error: {folder}: no such folder", file=sys.stderr)
            return 2
    if not args.previous.is_file():
        print(f"error: {args.previous}: no such model file", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        previous = Path(scratch) / "previous-default.safetensors"
        os.symlink(args.previous.resolve(), previous)
        compare(demo, previous, args.out / "default-comparison.jpg", len(list_images(demo)))
        if args.people:
            photos = Path(scratch) / "people"
            photos.mkdir()
            compare(photos, previous, args.out / "people-comparison.jpg", people_photos(args.people, photos))
    return 0


if __name__ == "__main__":
    sys.exit(main())
