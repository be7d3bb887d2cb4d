"""Quality of a model on the evaluation sets, against the targets of the broad default (docs/data.md).

    python bench/bench_quality.py MODEL [--data ../shared/data] [--people DIR] [--validation DIR] [--size S]
                                        [--temperature T] [--decode D] [--out DIR] [--sets kodak24,...]

Scores MODEL ('default', a .safetensors or .onnx file) with ``chromalab.evaluation.score.evaluate`` (what
``chromalab evaluate`` runs) on kodak24, cbsd68, McMaster, 400 photos of val128 (evenly spaced) and, with
``--people``, the held-out people split (``scripts/split-training-photos.py`` writes it as LAYOUT/people),
with ``--validation``, a training cache's validation photos (``scripts/link-validation-photos.py``; no AuC
target: a check, on photos nothing was chosen by, of a setting chosen on the other sets), each with the
model's own size and temperature unless ``--size`` or ``--temperature`` is given. Prints one row per set,
model minus grey where the target is relative, each cell marked ``*`` when it misses its target:

- rebalanced AuC gain over grey at least +8 / +10 / +7 / +9 / +8 (kodak24 / cbsd68 / McMaster / val128 /
people);
- colourfulness 0.8-1.2 of the truth's (McMaster 0.75-1.2); PSNR at least grey - 1.0 dB;
- hues (``evaluation.hues``): violet+magenta share within 5 points of the truth's, yellow and green shares at
  least 0.6 of the truth's, total-variation distance of the 12-band hue histograms at most 0.15.

Each set's summary JSON (as ``chromalab evaluate --json`` writes it) lands in ``--out``. Minutes per set on
a 2-core machine; the numbers do not depend on the load (only the seconds do).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from chromalab.colorize.loading import load_colorizer
from chromalab.evaluation.score import evaluate
from chromalab.images import evenly_spaced, list_images

VAL_LIMIT = 400


@dataclass(frozen=True)
class EvalSet:
    name: str
    folder: Path
    auc_gain: float | None  # rebalanced AuC, model minus grey, at least (None: no target)
    colorfulness: tuple[float, float] = (0.8, 1.2)  # of the truth's
    limit: int | None = None


def sets(data: Path, people: Path | None, validation: Path | None = None) -> list[EvalSet]:
    """The evaluation sets; with ``people`` the people split, with ``validation`` a training cache's
    validation photos (``scripts/link-validation-photos.py``: no AuC target; a check of settings chosen on
    the others)."""
    found = [
        EvalSet("kodak24", data / "eval" / "kodak24", 8.0),
        EvalSet("cbsd68", data / "eval" / "cbsd68", 10.0),
        EvalSet("mcmaster", data / "eval" / "mcmaster", 7.0, (0.75, 1.2)),
        EvalSet("val128", data / "val128", 9.0, limit=VAL_LIMIT),
    ]
    found += [EvalSet("people", people, 8.0)] if people is not None else []
    return found + ([EvalSet("validation", validation, None)] if validation is not None else [])


def add_set_options(parser: argparse.ArgumentParser) -> None:
    """The options choosing the sets (``chosen_sets``) and the view (--size), for bench_decoding too."""
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument(
        "--people", type=Path, default=None, help="The held-out people split (LAYOUT/people)."
    )
    parser.add_argument(
        "--validation",
        type=Path,
        default=None,
        help="A training cache's validation photos (scripts/link-validation-photos.py), scored last.",
    )
    parser.add_argument("--sets", default=None, help="Comma-separated names: only these sets.")
    parser.add_argument("--size", type=int, default=None, help="The view's side (default: the model's).")


def chosen_sets(data: Path, people: Path | None, validation: Path | None, names: str | None) -> list[EvalSet]:
    """The sets of ``sets`` whose names are in the comma-separated ``names`` (None: all of them);
    FileNotFoundError naming every chosen folder that does not exist."""
    chosen = [s for s in sets(data, people, validation) if not names or s.name in names.split(",")]
    missing = [str(s.folder) for s in chosen if not s.folder.is_dir()]
    if missing:
        raise FileNotFoundError(f"no such folder: {', '.join(missing)}")
    return chosen


def target_row(ours: dict, grey: dict, target: EvalSet) -> dict[str, tuple[float, bool]]:
    """The set's figures, each with whether it meets its target."""
    low, high = target.colorfulness
    share = ours["colorfulness"] / ours["colorfulness_gt"]
    gain = ours["auc_rebalanced"] - grey["auc_rebalanced"]
    return {
        "AuC-R gain": (gain, target.auc_gain is None or gain >= target.auc_gain),
        "colour": (share, low <= share <= high),
        "PSNR - grey": (ours["psnr"] - grey["psnr"], ours["psnr"] - grey["psnr"] >= -1.0),
        "violet": (
            ours["hue_violet_magenta"],
            abs(ours["hue_violet_magenta"] - ours["hue_violet_magenta_gt"]) <= 0.05,
        ),
        "violet truth": (ours["hue_violet_magenta_gt"], True),
        "yellow/truth": (
            ours["hue_yellow"] / ours["hue_yellow_gt"],
            ours["hue_yellow"] >= 0.6 * ours["hue_yellow_gt"],
        ),
        "green/truth": (
            ours["hue_green"] / ours["hue_green_gt"],
            ours["hue_green"] >= 0.6 * ours["hue_green_gt"],
        ),
        "hue TV": (ours["hue_tv"], ours["hue_tv"] <= 0.15),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    add_set_options(parser)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument(
        "--decode", default=None, help="annealed, mean, mode or mode-hue (default: the model's)."
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/quality"))
    args = parser.parse_args()
    try:
        chosen = chosen_sets(args.data, args.people, args.validation, args.sets)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    colorizer = load_colorizer(args.model, size=args.size, temperature=args.temperature, decode=args.decode)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = f"size {colorizer.size}, T = {colorizer.temperature}, decode {colorizer.decode_method}"
    print(f"{args.model}: {settings}")
    for target in chosen:
        paths = evenly_spaced(list_images(target.folder), target.limit)
        result = evaluate(paths, colorizer, root=target.folder)
        summary = result.summary(
            {
                "model": args.model,
                "size": colorizer.size,
                "temperature": colorizer.temperature,
                "decode": colorizer.decode_method,
            }
        )
        (args.out / f"{target.name}.json").write_text(json.dumps(summary, indent=1) + "\n")
        row = target_row(summary["metrics"], summary["gray_baseline"], target)
        cells = "  ".join(
            f"{key} {value:+.2f}{'' if met else '*'}"
            if key in ("AuC-R gain", "PSNR - grey")
            else f"{key} {value:.2f}{'' if met else '*'}"
            for key, (value, met) in row.items()
        )
        print(f"{target.name:9s} ({len(result.images)} photos)  {cells}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
