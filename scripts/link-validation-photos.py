#!/usr/bin/env python3
"""Links a prepared cache's validation photos into one folder, to be scored like an evaluation set.

    scripts/link-validation-photos.py CACHE OUT [--min-side N]

CACHE is what `chromalab prepare` wrote; its manifest.json names every kept photo and its split. OUT receives
the photos of the validation split as hard links (copies across file systems), named ROW-NAME so that photos
of the same name from different sources stay apart. They were never trained on, and unlike the evaluation
sets nothing was chosen by looking at them: a decoding setting picked on the evaluation sets is checked here.
--min-side N keeps only the photos whose shorter side is at least N pixels (read with Pillow: run it with the
project's Python), e.g. 384 for the large-photo check of the model card. Otherwise standard library only; OUT
must not exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from linking import link_or_copy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--min-side", type=int, default=0, help="Keep only photos whose shorter side is at least this."
    )
    args = parser.parse_args()
    manifest = args.cache / "manifest.json"
    if not manifest.is_file():
        print(f"error: {manifest}: not found (give a folder that chromalab prepare wrote)", file=sys.stderr)
        return 2
    if args.out.exists():
        print(f"error: {args.out}: exists; give a new folder", file=sys.stderr)
        return 2
    photos = [entry for entry in json.loads(manifest.read_text())["kept"] if entry["split"] == "val"]
    missing = [entry["path"] for entry in photos if not Path(entry["path"]).is_file()]
    if missing:
        print(f"error: {len(missing)} validation photos are gone, e.g. {missing[0]}", file=sys.stderr)
        return 2
    if args.min_side > 0:
        photos = [entry for entry in photos if shorter_side(Path(entry["path"])) >= args.min_side]
    args.out.mkdir(parents=True)
    for entry in photos:
        source = Path(entry["path"])
        link_or_copy(source, args.out / f"{entry['row']:06d}-{source.name}")
    shown = f" with a shorter side of at least {args.min_side} px" if args.min_side > 0 else ""
    print(f"{args.out}: {len(photos)} validation photos{shown}")
    return 0


def shorter_side(path: Path) -> int:
    """The photo's shorter side in pixels (Pillow: only --min-side needs more than the standard library)."""
    from PIL import Image

    with Image.open(path) as image:
        return min(image.size)


if __name__ == "__main__":
    sys.exit(main())
