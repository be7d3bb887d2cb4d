#!/usr/bin/env python3
"""Lays the exported photos (scripts/export-training-photos.sh) out as training sources and a people split.

    scripts/split-training-photos.py PHOTOS OUT [--seed 0] [--faces-train 10000]

PHOTOS holds one folder per source (utkface, caltech101, ...). OUT receives, as hard links (no copies; falls
back to copying across file systems):
  OUT/people/faces/   1,000 UTKFace faces, held out from training
  OUT/people/person/  300 PACS photos of people, held out from training
  OUT/train/<source>/ every other photo, less the drops of docs/data.md: Caltech-101's BACKGROUND_Google
                      (not a class) and Faces (the Faces_easy photos again, uncropped); UTKFace beyond
                      --faces-train photos (aligned face crops: all 23,708 would be half the data).
The draw is seeded and depends on the sorted file names only. Standard library only; OUT must not exist.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from linking import link_or_copy

PEOPLE_FACES, PEOPLE_PERSON = 1000, 300
DROPPED_FOLDERS = {("caltech101", "BACKGROUND_Google"), ("caltech101", "Faces")}


def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faces-train", type=int, default=10000)
    args = parser.parse_args()
    if args.out.exists():
        print(f"error: {args.out}: exists; give a new folder", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    faces = files_of(args.photos / "utkface")
    person = files_of(args.photos / "pacs" / "person")
    if len(faces) < PEOPLE_FACES + args.faces_train or len(person) < PEOPLE_PERSON:
        print(f"error: {args.photos}: too few photos in utkface/ or pacs/person/", file=sys.stderr)
        return 2
    rng.shuffle(faces)
    rng.shuffle(person)
    held_out = {p: args.out / "people" / "faces" / p.name for p in faces[:PEOPLE_FACES]}
    held_out |= {p: args.out / "people" / "person" / p.name for p in person[:PEOPLE_PERSON]}
    unused = set(faces[PEOPLE_FACES + args.faces_train :])
    counts: dict[str, int] = {}
    for source in sorted(p for p in args.photos.iterdir() if p.is_dir()):
        for path in files_of(source):
            rel = path.relative_to(source)
            if path in held_out:
                link_or_copy(path, held_out[path])
            elif path not in unused and (source.name, rel.parts[0]) not in DROPPED_FOLDERS:
                link_or_copy(path, args.out / "train" / source.name / rel)
                counts[source.name] = counts.get(source.name, 0) + 1
    for name, count in counts.items():
        print(f"train/{name}: {count}")
    print(
        f"people/faces: {PEOPLE_FACES}, people/person: {PEOPLE_PERSON} (held out); "
        f"{len(unused)} UTKFace faces unused"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
