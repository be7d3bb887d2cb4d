"""Spine benchmark: network speed against the machine's floor, the pipeline's own overhead on 12 MP, peak
memory.

    python bench/bench_spine.py            (``make bench``)

1. Forward time of ``zhang-eccv16`` (Q = 313, eval, inference_mode, batch 1, 256 x 256) at width 1.0 and 0.25:
   median of N runs after warm-up; FLOPs from a hook-based counter (2 x multiply-adds of every convolution and
   transposed convolution); floor = FLOPs / 230 GFLOP/s (fp32 matmul peak measured here, docs/design.md);
   ratio.
2. The pipeline's own work on a 12-megapixel JPEG (4000 x 3000, colour and grey): decode, lightness, network
   input resize, upsample + Lab -> sRGB, JPEG encode; each a median, and their sum (target < 0.6 s).
3. ``chromalab colorize big.jpg --model tiny`` end to end in a subprocess: wall time and its peak resident
   memory (ru_maxrss of the child), also with the same network saved as a model file (its bins stored, none
   computed), plus this process's own peak.

Prints a table and writes ``bench/results/spine.json``. The machine is shared: every figure is a median and
the load average is recorded at start and end.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from probe import measure  # bench/probe.py, beside this script

from chromalab.colorize.torch_backend import Colorizer
from chromalab.images import open_image, save_image, to_lightness
from chromalab.models import create_model
from chromalab.models.checkpoint import save_model
from chromalab.models.profile import PEAK_GFLOPS, count_flops, median_time

THREADS = 2
SIDE = 256
Q = 313  # Zhang et al.'s bins
BIG = (4000, 3000)  # 12 megapixels
OVERHEAD_TARGET_S = 0.6
RESULTS = Path(__file__).resolve().parent / "results" / "spine.json"
CHROMALAB = Path(sys.executable).parent / "chromalab"


def bench_network(width: float, runs: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = create_model("zhang-eccv16", num_classes=Q, width=width).eval()
    x = torch.rand(1, 1, SIDE, SIDE) - 0.5
    flops = count_flops(model, x)
    with torch.inference_mode():
        seconds, samples = median_time(lambda: model(x), runs=runs, warmup=2)
    floor = flops / (PEAK_GFLOPS * 1e9)
    return {
        "width": width,
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "gflops": flops / 1e9,
        "median_s": seconds,  # the figure reported; min_s shows how much the shared machine's noise added
        "min_s": min(samples),
        "floor_s": floor,
        "ratio": seconds / floor,
        "runs": runs,
    }


def make_big_jpegs(folder: Path) -> dict[str, Path]:
    """A 12 MP colour JPEG (skimage's astronaut upscaled) and its grey version."""
    from skimage import data

    big = Image.fromarray(data.astronaut()).resize(BIG, Image.Resampling.BICUBIC)
    paths = {"colour": folder / "big.jpg", "grey": folder / "big-grey.jpg"}
    big.save(paths["colour"], quality=90)
    big.convert("L").save(paths["grey"], quality=90)
    return paths


def bench_overhead(path: Path, colorizer: Colorizer, out: Path, runs: int) -> dict[str, float]:
    """Median seconds of each pipeline step that is not the network, on one big JPEG."""
    image = open_image(path)
    source = to_lightness(image)
    small = colorizer.view(source, size=SIDE).network_input
    ab_small = colorizer.predict_ab(small)[0]  # (2, 64, 64)
    rgb = np.asarray(colorizer.render(source, ab_small[None]))
    steps = {
        "decode": lambda: open_image(path),
        "lightness": lambda: to_lightness(image),
        "network_input": lambda: colorizer.view(source, size=SIDE),
        "upsample_lab_to_srgb": lambda: colorizer.render(source, ab_small[None]),
        "encode_jpeg": lambda: save_image(Image.fromarray(rgb, mode="RGB"), out),
    }
    result = {name: median_time(fn, runs=runs)[0] for name, fn in steps.items()}
    result["network_tiny"] = median_time(lambda: colorizer.predict_ab(small), runs=runs)[0]
    result["total_without_network"] = sum(v for k, v in result.items() if k != "network_tiny")
    result["mode"] = image.mode
    return result


def bench_end_to_end(path: Path, out: Path, model: str) -> dict[str, float]:
    """``chromalab colorize`` in a child process: wall time and the child's peak RSS (MB)."""
    measured = measure(
        [str(CHROMALAB), "colorize", str(path), "-o", str(out), "--model", model, "--overwrite"]
    )
    return {"wall_s": measured["wall_s"], "peak_rss_MB": measured["peak_rss_mb"]}


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def main() -> None:
    torch.set_num_threads(THREADS)
    load_start = os.getloadavg()
    started = time.time()
    print(
        f"chromalab spine benchmark: torch {torch.__version__}, {THREADS} threads, load average "
        f"{load_start[0]:.2f} at start"
    )

    networks = [bench_network(1.0, runs=7), bench_network(0.25, runs=15)]
    print("\n(1) zhang-eccv16 forward, Q = 313, batch 1, 256 x 256, median after warm-up")
    print(
        table(
            [
                [
                    f"{n['width']:.2f}",
                    f"{n['params_M']:.1f}",
                    f"{n['gflops']:.1f}",
                    f"{n['median_s'] * 1e3:.0f}",
                    f"{n['min_s'] * 1e3:.0f}",
                    f"{n['floor_s'] * 1e3:.0f}",
                    f"{n['ratio']:.2f}",
                ]
                for n in networks
            ],
            [
                "width",
                "params (M)",
                "GFLOP",
                "median (ms)",
                "min (ms)",
                f"floor @ {PEAK_GFLOPS:.0f} GFLOP/s (ms)",
                "median / floor",
            ],
        )
    )

    with tempfile.TemporaryDirectory(prefix="chromalab-bench-") as tmp:
        folder = Path(tmp)
        paths = make_big_jpegs(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(0)
            colorizer = Colorizer.untrained("tiny")  # the network is not what (2) measures
        overhead = {
            kind: bench_overhead(path, colorizer, folder / f"out-{kind}.jpg", runs=3)
            for kind, path in paths.items()
        }
        steps = [
            "decode",
            "lightness",
            "network_input",
            "upsample_lab_to_srgb",
            "encode_jpeg",
            "total_without_network",
            "network_tiny",
        ]
        print(
            f"\n(2) pipeline overhead on a {BIG[0]} x {BIG[1]} JPEG (median of 3, ms); target: total < "
            f"{OVERHEAD_TARGET_S * 1e3:.0f} ms"
        )
        print(
            table(
                [[step, *(f"{overhead[k][step] * 1e3:.0f}" for k in paths)] for step in steps],
                ["step", *(f"{k} ({overhead[k]['mode']})" for k in paths)],
            )
        )
        # the same network saved with its bins: shows what the gamut-bin computation of `--model tiny` costs
        model_file = folder / "tiny.safetensors"
        save_model(model_file, colorizer.model, colorizer.spec, bins=colorizer.bins)
        cases = {
            "colour, --model tiny": (paths["colour"], "tiny"),
            "grey, --model tiny": (paths["grey"], "tiny"),
            "grey, --model tiny.safetensors": (paths["grey"], str(model_file)),
        }
        end_to_end = {
            case: bench_end_to_end(path, folder / "cli-out", model) for case, (path, model) in cases.items()
        }
        print(
            "\n(3) `chromalab colorize big.jpg --model tiny` in a subprocess (includes Python + torch "
            "start-up)"
        )
        print(
            table(
                [[case, f"{r['wall_s']:.2f}", f"{r['peak_rss_MB']:.0f}"] for case, r in end_to_end.items()],
                ["input, model", "wall (s)", "peak RSS (MB)"],
            )
        )
    own_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_end = os.getloadavg()
    print(
        f"\nthis process's peak RSS: {own_peak_mb:.0f} MB; load average {load_end[0]:.2f} at end "
        f"(start {load_start[0]:.2f}); {time.time() - started:.0f} s in all"
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "threads": THREADS,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "peak_gflops_assumed": PEAK_GFLOPS,
            "load_average_start": load_start,
            "load_average_end": load_end,
        },
        "network": networks,
        "overhead_12mp": overhead,
        "overhead_target_s": OVERHEAD_TARGET_S,
        "end_to_end_12mp": end_to_end,
        "bench_peak_rss_MB": own_peak_mb,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
