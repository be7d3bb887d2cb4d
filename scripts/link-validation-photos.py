#!/usr/bin/env python3
"""Links a prepared cache's validation photos into one folder, to be scored like an evaluation set.

    scripts/link-validation-photos.py CACHE OUT

CACHE is what `chromalab prepare` wrote; its manifest.json names every kept photo and its split. OUT receives
the photos of the validation split as hard links (copies across file systems), named ROW-NAME so that photos
of the same name from different sources stay apart. They were never trained on, and unlike the evaluation
sets nothing was chosen by looking at them: a decoding setting picked on the evaluation sets is checked here.
Standard library only; OUT must not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("out", type=Path)
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
    args.out.mkdir(parents=True)
    for entry in photos:
        source = Path(entry["path"])
        target = args.out / f"{entry['row']:06d}-{source.name}"
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    print(f"{args.out}: {len(photos)} validation photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
