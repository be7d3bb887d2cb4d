"""Photos matched across folders by name: the truth's ``beach/dog.jpg`` pairs with each method folder's
``beach/dog.*`` (same path inside the folder, any image suffix: a colorizer may write PNG for a JPEG).

Nothing is guessed: a photo that lacks a file in some folder, a file with no truth, and two files of one
name in a folder (``dog.jpg`` beside ``dog.png``) are each listed as a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chromalab.images import list_images


@dataclass
class Pairing:
    """The photos every folder holds, and what did not pair."""

    truth: dict[str, Path] = field(default_factory=dict)  # photo name -> the real photo's file
    # label -> photo name -> its colorization
    methods: dict[str, dict[str, Path]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # one line each: what did not pair, and why

    @property
    def names(self) -> list[str]:
        return sorted(self.truth)


def photo_name(path: Path, folder: Path) -> str:
    """The name that pairs a file across folders: its path inside ``folder``, without suffix ('beach/dog')."""
    return path.relative_to(folder).with_suffix("").as_posix()


def pair_photos(truth: Path, methods: dict[str, Path]) -> Pairing:
    """Pair the photos of ``truth`` with those of each method's folder (label -> folder) by name.

    Only photos found in every folder are kept; the rest are listed in ``problems``."""
    pairing = Pairing()
    ambiguous: set[str] = set()  # names with two files in some folder: listed once, never paired
    truth_files = _by_name(truth, "truth", pairing.problems, ambiguous)
    method_files = {
        label: _by_name(folder, label, pairing.problems, ambiguous) for label, folder in methods.items()
    }
    for name in sorted(set(truth_files) - ambiguous):
        lacking = [label for label, files in method_files.items() if name not in files]
        for label in lacking:
            pairing.problems.append(f"{name}: no {label} file in {methods[label]}")
        if not lacking:
            pairing.truth[name] = truth_files[name]
    for label, files in method_files.items():
        for name in sorted(set(files) - set(truth_files) - ambiguous):
            pairing.problems.append(
                f"{name}: in {label} ({methods[label]}) but not in the truth folder {truth}"
            )
    pairing.methods = {
        label: {name: files[name] for name in pairing.truth} for label, files in method_files.items()
    }
    return pairing


def _by_name(folder: Path, label: str, problems: list[str], ambiguous: set[str]) -> dict[str, Path]:
    """name -> file of every photo in ``folder``; two files of one name are a problem, their name goes into
    ``ambiguous`` and neither file is kept."""
    found: dict[str, list[Path]] = {}
    for path in list_images(folder):
        found.setdefault(photo_name(path, folder), []).append(path)
    for name, paths in found.items():
        if len(paths) > 1:
            problems.append(
                f"{name}: {label} has {len(paths)} files of this name "
                f"({', '.join(p.name for p in paths)}): which is meant is not guessed"
            )
            ambiguous.add(name)
    return {name: paths[0] for name, paths in found.items() if len(paths) == 1}
