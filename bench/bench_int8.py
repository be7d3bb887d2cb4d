"""int8 graphs against the fp32 graph: speed at 256 x 256 and quality on kodak24 and cbsd68, in one run.

    python bench/bench_int8.py [--model default|PATH] [--calibration DIR] [--data DIR] [--rounds N]
                               [--threads N]                        (part of ``make bench``)

1. The fp32 graph (the bundled ``weights/default.onnx``, or MODEL exported) quantized as ``chromalab export
   --quantize int8`` does (``colorize.quantize``): ``static`` (QDQ, per-channel weights, calibrated on
   ``CALIBRATION_PHOTOS`` photos of ``--calibration``, evenly spaced) and ``dynamic``.
2. Forward latency of the graph (its ``logits``, no hints), batch 1, one 256 x 256 view of a kodak24 photo,
   each graph on onnxruntime with the same threads, in interleaved rounds after warm-up rounds: medians and
   the ratio fp32 / int8 (above 1: int8 is faster).
3. Quality of each graph on kodak24 and cbsd68 with ``evaluation.score.evaluate`` (what ``chromalab
   evaluate`` runs): rebalanced AuC and PSNR, and int8 minus fp32; and how far the decoded ab of int8 is from
   fp32's on those views (Lab units).
4. The verdict of the issue's rule: int8 may be bundled only if at least 1.5x faster and losing at most
   0.3 points of rebalanced AuC and 0.2 dB of PSNR on both sets (``adopt``: the rule is met).

Writes ``bench/results/int8.json`` and prints a table. About 3-4 minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from chromalab.colorize.onnx_backend import OnnxColorizer
from chromalab.colorize.options import bundled_weights
from chromalab.colorize.quantize import CALIBRATION_PHOTOS, METHODS, quantize_graph
from chromalab.evaluation.score import evaluate
from chromalab.images import evenly_spaced, list_images, open_image
from chromalab.models.profile import interleaved_medians

SIDE = 256
SETS = ("kodak24", "cbsd68")
RESULTS = Path(__file__).resolve().parent / "results" / "int8.json"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# the rule for bundling the int8 graph
MIN_SPEED_UP, MAX_AUC_LOSS, MAX_PSNR_LOSS = 1.5, 0.3, 0.2


def fp32_graph(model: str, folder: Path) -> Path:
    """The fp32 graph of ``model``: the bundled one, an .onnx file, or a model file exported into
    ``folder``."""
    if model == "default":
        return bundled_weights(suffix=".onnx")
    if model.endswith(".onnx"):
        return Path(model)
    from chromalab.colorize.export import export_onnx

    export_onnx(Path(model), folder / "model.onnx")
    return folder / "model.onnx"


def latencies(colorizers: dict[str, OnnxColorizer], photo: Path, rounds: int) -> dict[str, float]:
    """Median milliseconds of each graph's forward pass on one 256 x 256 view of ``photo``, interleaved."""
    first = next(iter(colorizers.values()))
    view = first.prepare(open_image(photo), size=SIDE).network_input  # (1, 1, 256, 256)
    assert view.shape == (1, 1, SIDE, SIDE), view.shape
    calls = {name: (lambda c=c: c.network_output(view)) for name, c in colorizers.items()}
    seconds = interleaved_medians(calls, rounds=rounds, warmup=5)
    return {name: s * 1000 for name, s in seconds.items()}


def quality(colorizer: OnnxColorizer, folder: Path) -> dict[str, float]:
    """Rebalanced AuC (percent) and PSNR (dB) of ``colorizer`` on the photos of ``folder``, as ``chromalab
    evaluate`` scores them."""
    result = evaluate(list_images(folder), colorizer, root=folder)
    metrics = result.summary({"model": "bench_int8"})["metrics"]
    return {
        "auc_rebalanced": metrics["auc_rebalanced"],
        "psnr": metrics["psnr"],
        "photos": len(result.images),
    }


def ab_differences(reference: OnnxColorizer, other: OnnxColorizer, folder: Path) -> dict[str, float]:
    """|ab| of ``other``'s decoded views minus ``reference``'s over the photos of ``folder`` (Lab units):
    mean, 99th percentile and largest."""
    differences = []
    for path in list_images(folder):
        view = reference.prepare(open_image(path)).network_input  # (1, 1, S, S)
        delta = other.predict_ab(view) - reference.predict_ab(view)  # (1, 2, h, w)
        differences.append(np.hypot(delta[0, 0], delta[0, 1]).ravel())
    pooled = np.concatenate(differences)
    return {"mean": float(pooled.mean()), "p99": float(np.percentile(pooled, 99)), "max": float(pooled.max())}


def verdict(ratio: float, scores: dict[str, dict[str, dict[str, float]]], name: str) -> dict[str, object]:
    """Whether the int8 graph ``name`` meets the rule, and each loss (fp32 minus int8)."""
    losses = {
        s: {
            "auc_rebalanced": scores[s]["fp32"]["auc_rebalanced"] - scores[s][name]["auc_rebalanced"],
            "psnr": scores[s]["fp32"]["psnr"] - scores[s][name]["psnr"],
        }
        for s in scores
    }
    meets = ratio >= MIN_SPEED_UP and all(
        loss["auc_rebalanced"] <= MAX_AUC_LOSS and loss["psnr"] <= MAX_PSNR_LOSS for loss in losses.values()
    )
    return {"speed_up": ratio, "losses": losses, "adopt": meets}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="default", help="'default', an .onnx graph or a .safetensors file."
    )
    parser.add_argument("--calibration", type=Path, default=SHARED_DATA / "train128")
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "eval", help="Holds kodak24/ and cbsd68/.")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    folders = {name: args.data / name for name in SETS}
    missing = [str(f) for f in [args.calibration, *folders.values()] if not f.is_dir()]
    if missing:
        print(f"error: no such folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    load_start = os.getloadavg()[0]
    photos = evenly_spaced(list_images(args.calibration), CALIBRATION_PHOTOS)
    with tempfile.TemporaryDirectory(prefix="chromalab-int8-") as tmp:
        graphs = {"fp32": fp32_graph(args.model, Path(tmp))}
        for method in METHODS:
            graphs[method] = Path(tmp) / f"{method}.onnx"
            quantize_graph(graphs["fp32"], graphs[method], method=method, photos=photos)
        colorizers = {name: OnnxColorizer.load(g, threads=args.threads) for name, g in graphs.items()}
        sizes_mb = {name: g.stat().st_size / 1e6 for name, g in graphs.items()}
        ms = latencies(colorizers, list_images(folders["kodak24"])[0], args.rounds)
        scores = {s: {name: quality(c, folders[s]) for name, c in colorizers.items()} for s in SETS}
        drift = {
            name: {s: ab_differences(colorizers["fp32"], colorizers[name], folders[s]) for s in SETS}
            for name in METHODS
        }
    verdicts = {name: verdict(ms["fp32"] / ms[name], scores, name) for name in METHODS}
    load_end = os.getloadavg()[0]

    print(f"{'graph':8s} {'MB':>6s} {'ms @256':>8s} {'fp32/this':>10s}", end="")
    for s in SETS:
        print(f" {s + ' AuC-R':>14s} {'PSNR':>7s}", end="")
    print()
    for name in graphs:
        print(f"{name:8s} {sizes_mb[name]:6.1f} {ms[name]:8.1f} {ms['fp32'] / ms[name]:10.2f}", end="")
        for s in SETS:
            row = scores[s][name]
            print(f" {row['auc_rebalanced']:14.2f} {row['psnr']:7.2f}", end="")
        print()
    for name, v in verdicts.items():
        losses = ", ".join(
            f"{s}: AuC-R {loss['auc_rebalanced']:+.2f}, PSNR {loss['psnr']:+.2f} dB"
            for s, loss in v["losses"].items()
        )
        shift = ", ".join(f"{s} mean {d['mean']:.2f} p99 {d['p99']:.2f}" for s, d in drift[name].items())
        print(
            f"{name}: {v['speed_up']:.2f}x; loss (fp32 - int8) {losses}; |ab - fp32's| {shift}; "
            f"{'meets' if v['adopt'] else 'misses'} the rule (>= {MIN_SPEED_UP}x, AuC-R loss <= "
            f"{MAX_AUC_LOSS}, PSNR loss <= {MAX_PSNR_LOSS} dB)"
        )
    print(
        f"{args.rounds} interleaved rounds, {args.threads} threads; load average {load_start:.2f} -> "
        f"{load_end:.2f}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "model": args.model,
                "side": SIDE,
                "threads": args.threads,
                "rounds": args.rounds,
                "calibration": {"folder": str(args.calibration), "photos": len(photos)},
                "size_mb": sizes_mb,
                "latency_ms": ms,
                "quality": scores,
                "ab_vs_fp32": drift,
                "verdict": verdicts,
                "load": [load_start, load_end],
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
