"""Colour hints benchmark: the PSNR-vs-hints curve, and how long a change takes.

    python bench/bench_hints.py [--model default] [--figure docs/hints-curve.png]      (part of ``make
    bench``)

1. For each evaluation set (kodak24, cbsd68 and val128, the last limited to ``--val-limit`` photos evenly
   spaced), ``chromalab.evaluation.score.evaluate`` with 0, 1, 5, 10, 50 and 100 point hints per photo drawn
   from the truth (Zhang et al. 2017's sampler, seeded: every model gets the same hints): mean PSNR, its gain
   over no hint, and rebalanced AuC. Targets (issue "Colour hints"): +2 dB with 10 hints, +4 dB with 100.
2. Latency on a 1-megapixel photo (astronaut, 1000 x 1000), 10 hints, median of several runs: a hint change
   as the web app makes it (one of the 10 hints dragged to a new place: ``HintSession.set_hints`` then
   ``colorize`` at full resolution; a hint network runs its decoder on the kept encoder features, then the
   hints are spread with the photo's factorised system), and its parts; the first hint (which factorises the
   system); all 10 hints moved at once; a one-shot ``spreading.spread`` and ``core.render`` as ``colorize``
   does it; and scribbles through ``chromalab colorize --scribbles`` end to end (start-up included).
   Targets: 150 ms and 2 s.

Writes ``bench/results/hints.json`` (and the figure when asked).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

# idle threads sleep: the busy-machine case of openmp.polite_openmp
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import skimage.data
from PIL import Image, ImageDraw

from chromalab.color.hints import Hint, sample_hints
from chromalab.colorize.core import BaseColorizer, as_lightness, render
from chromalab.colorize.hint_session import HintSession
from chromalab.colorize.spreading import spread
from chromalab.colorize.torch_backend import Colorizer
from chromalab.evaluation.metrics import rgb8_to_ab
from chromalab.evaluation.score import evaluate
from chromalab.images import evenly_spaced, list_images
from chromalab.models.profile import seconds_of

RESULTS = Path(__file__).parent / "results" / "hints.json"
CHROMALAB = Path(sys.executable).parent / "chromalab"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {
    "kodak24": SHARED / "eval" / "kodak24",
    "cbsd68": SHARED / "eval" / "cbsd68",
    "val128": SHARED / "val128",
}
COUNTS = (0, 1, 5, 10, 50, 100)


def curve(colorizer: Colorizer, folder: Path, limit: int | None) -> dict[int, dict[str, float]]:
    paths = evenly_spaced(list_images(folder), limit)
    points = {}
    for count in COUNTS:
        metrics = evaluate(paths, colorizer, root=folder, hints=count).summary({})["metrics"]
        points[count] = {"psnr": metrics["psnr"], "auc_rebalanced": metrics["auc_rebalanced"]}
        print(f"  {folder.name}: {count:3d} hints  PSNR {metrics['psnr']:.2f} dB", flush=True)
    for point in points.values():
        point["psnr_gain"] = point["psnr"] - points[0]["psnr"]
    return points


def latency(colorizer: BaseColorizer, runs: int = 5) -> dict[str, float]:
    rgb = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((1000, 1000)))
    grey = Image.fromarray(rgb).convert("L")
    source = as_lightness(grey)
    started = time.perf_counter()
    ab_small = np.asarray(colorizer.predict_ab(colorizer.view(source).network_input))  # (1, 2, h, w)
    network = time.perf_counter() - started
    hints = sample_hints(rgb8_to_ab(rgb), np.random.default_rng(0), count=10)
    one_shot = [
        seconds_of(lambda: render(source, spread(source, hints=hints, prior_ab=ab_small)))
        for _ in range(runs)
    ]
    session = HintSession(colorizer, source)
    first = _change(session, hints)  # factorises the photo's system
    changes, parts = [], []
    for run in range(1, runs + 1):
        dragged = [*hints[:-1], _moved(hints[-1], 12 * run)]  # the page's edit: one hint to a new place
        changes.append(_change(session, dragged))
        ab = session.ab()  # the parts, with the hints in place
        parts.append(
            (
                seconds_of(partial(session.set_hints, dragged)),
                seconds_of(session.ab),
                seconds_of(partial(render, source, ab)),
            )
        )
    everything = [_change(session, [_moved(h, 7 * run) for h in hints]) for run in range(1, runs + 1)]
    with tempfile.TemporaryDirectory() as folder:
        photo, strokes = Path(folder) / "photo.png", Path(folder) / "strokes.png"
        grey.save(photo)
        layer = Image.new("RGBA", grey.size, (0, 0, 0, 0))
        ImageDraw.Draw(layer).line([(80, 700), (400, 760)], fill=(40, 80, 220, 255), width=12)
        layer.save(strokes)
        started = time.perf_counter()
        subprocess.run(
            [CHROMALAB, "colorize", str(photo), "--scribbles", str(strokes), "-o", str(Path(folder) / "out")],
            check=True,
            capture_output=True,
        )
        scribbles_cli = time.perf_counter() - started
    decoder, spreading, rendering = (statistics.median(part) for part in zip(*parts, strict=True))
    return {
        "network_s": network,
        "hint_network": colorizer.takes_hints,
        "hint_change_s": statistics.median(changes),
        "first_hint_s": first,
        "all_hints_moved_s": statistics.median(everything),
        "levin_one_shot_s": statistics.median(one_shot),
        "parts_of_a_change_s": {"decoder": decoder, "spreading": spreading, "render": rendering},
        "scribbles_cli_s": scribbles_cli,
    }


def _change(session: HintSession, hints: list[Hint]) -> float:
    """Seconds for a hint change as the web app makes it: the new hints, then the photo at full resolution."""
    return seconds_of(lambda: (session.set_hints(hints), session.colorize()))


def _moved(hint: Hint, step: int) -> Hint:
    """``hint`` ``step`` pixels to the right (to the left near the edge)."""
    return Hint(hint.x + step if hint.x + step < 1000 else hint.x - step, hint.y, hint.ab, hint.side)


def figure(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, points in results["curves"].items():
        counts = sorted(int(c) for c in points)
        ax.plot(
            [max(c, 0.5) for c in counts], [points[str(c)]["psnr"] for c in counts], marker="o", label=name
        )
    ax.set_xscale("log")
    ax.set_xlabel("point hints per photo (0 drawn at 0.5)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"{results['model']}: PSNR against hints from the truth")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--val-limit", type=int, default=200)
    parser.add_argument("--figure", type=Path)
    parser.add_argument(
        "--only",
        choices=("curves", "latency"),
        help="measure one part; the other is kept from "
        "the last results file (the curves need no quiet machine, the latency does)",
    )
    args = parser.parse_args()
    colorizer = Colorizer.load(args.model)
    kept = json.loads(RESULTS.read_text()) if args.only and RESULTS.is_file() else {}
    results: dict = {**kept, "model": args.model}
    if args.only != "latency":
        results["curves"] = {}
        for name, folder in SETS.items():
            if folder.is_dir():
                points = curve(colorizer, folder, args.val_limit if name == "val128" else None)
                results["curves"][name] = {str(count): point for count, point in points.items()}
    if args.only != "curves":  # both engines in one run, so that their ratio holds on a shared machine
        results["load_average_start"] = os.getloadavg()[0]
        engines: dict[str, BaseColorizer] = {"torch": colorizer}
        if args.model == "default":  # its graphs ship beside it
            from chromalab.colorize.onnx_backend import OnnxColorizer

            engines["onnx"] = OnnxColorizer.load("default")
        results["latency_1mp"] = {name: latency(engine) for name, engine in engines.items()}
        results["load_average_end"] = os.getloadavg()[0]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results.get("latency_1mp"), indent=2))
    if args.figure and results.get("curves"):
        figure(results, args.figure)
        print(args.figure)


if __name__ == "__main__":
    main()
