"""Default-model benchmark: the bundled network against Zhang et al.'s, and the CLI end to end.

    python bench/bench_default.py [--model default|PATH]      (part of ``make bench``)

1. params, FLOPs and median forward time at 256 x 256, batch 1, 2 threads, for the default model (its trained
   weights) and ``zhang-eccv16`` at widths 1.0 and 0.25 (random weights; denormals flushed, as random weights
   drift into them), each in the inference form ``Colorizer.load`` holds (``models/inference.py``), all
   measured in this one run, in interleaved rounds; the ratio to Zhang's width 1.0. Then both networks
   exported with their decoding (as ``chromalab export`` writes them; Zhang over the same 261 bins), on
   onnxruntime with 2 threads: the ratio within that engine, the one ``chromalab colorize`` runs the bundled
   model on; and the default's graph at its own view size with its own decoding, as ``colorize`` runs it.
2. ``chromalab colorize`` of one 12-megapixel JPEG in a subprocess: wall time and peak resident memory, with
   ``--engine onnx`` (no torch import) and ``--engine torch``.
3. ``chromalab colorize`` of a folder of 100 photos of 0.5 megapixels: photos per second (start-up included),
   both engines.
4. Where the time goes: start-up (the CLI modules, torch, onnxruntime) in subprocesses; the 12 MP photo step
   by step in this process (open, prepare = L + network input, network, render = upsample + Lab -> sRGB,
   encode); the folder loop in this process, as the CLI runs it (reading and writing beside the network) and
   one photo after another; both engines.

Writes ``bench/results/default.json``. The machine is shared: medians, and the load average at start and
end. Idle OpenMP threads wait as in ``chromalab colorize`` (``openmp.polite_openmp``: a brief spin on an
idle machine, sleep on a busy one; the choice is printed and stored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from chromalab.colorize.openmp import polite_openmp  # torch-free

THREAD_WAIT = polite_openmp()  # before torch: as chromalab colorize does

import skimage.data
import torch
from PIL import Image
from probe import measure  # bench/probe.py, beside this script

from chromalab.color.bin_sets import make_bins
from chromalab.colorize.batch import colorize_all, expand_inputs
from chromalab.colorize.core import BaseColorizer
from chromalab.colorize.export import export_onnx
from chromalab.colorize.onnx_backend import OnnxColorizer
from chromalab.colorize.options import bundled_weights
from chromalab.colorize.torch_backend import Colorizer
from chromalab.images import open_image, save_image
from chromalab.models import create_model
from chromalab.models.checkpoint import ModelSpec, load_model, read_metadata, save_model
from chromalab.models.inference import for_inference
from chromalab.models.profile import PEAK_GFLOPS, count_flops, count_params, interleaved_medians

THREADS = 2
SIDE = 256
RESULTS = Path(__file__).resolve().parent / "results" / "default.json"
CHROMALAB = Path(sys.executable).parent / "chromalab"


def network_row(
    name: str, options: dict, num_classes: int, *, weights: Path | None = None
) -> tuple[dict, Callable]:
    """Size and FLOPs of a network (the trained one in ``weights``, else random weights) and its forward
    pass at 256 x 256 in the inference form ``Colorizer.load`` holds, to be timed."""
    torch.manual_seed(0)
    model = (
        load_model(weights).model if weights else create_model(name, num_classes=num_classes, **options)
    ).eval()
    x = torch.rand(1, 1, SIDE, SIDE) - 0.5
    flops = count_flops(model, x)  # before folding: the BatchNorms' arithmetic counts as the network's
    model = for_inference(model)
    row = {
        "model": f"{name} {options}".strip(),
        "params_M": count_params(model) / 1e6,
        "gflops": flops / 1e9,
        "floor_ms": flops / (PEAK_GFLOPS * 1e9) * 1000,
    }
    return row, lambda: model(x)


def zhang_graph(folder: Path) -> Path:
    """``zhang-eccv16`` (random weights, 261 gamut:10 bins) exported with its decoding, as the default's
    graph is."""
    bins = make_bins("gamut:10")
    torch.manual_seed(0)
    model = create_model("zhang-eccv16", num_classes=bins.num_classes)
    save_model(folder / "zhang.safetensors", model, ModelSpec("zhang-eccv16", {}, bins.spec), bins=bins)
    export_onnx(folder / "zhang.safetensors", folder / "zhang.onnx")
    return folder / "zhang.onnx"


def onnx_row(graph: Path, name: str, *, own_view: bool = False) -> tuple[dict, Callable]:
    """An exported graph's forward pass, batch 1, on onnxruntime with 2 threads, and the numpy decoding of
    its logits, as ``chromalab colorize`` runs them: to be timed. At 256 x 256 decoded annealed at T = 0.6
    (the same work for every graph), or with ``own_view`` at the model's own view size and decoding."""
    import numpy as np

    from chromalab.colorize.onnx_backend import OnnxColorizer

    colorizer = OnnxColorizer.load(graph, threads=THREADS)
    side = colorizer.size if own_view else SIDE
    lightness = np.full((1, 1, side, side), 50.0, np.float32)
    label = f"{name} at {side}x{side}, {colorizer.decode_method}" if own_view else name
    decoding = {} if own_view else {"temperature": 0.6, "decode": "annealed"}  # {}: the model's own
    return {"model": label}, lambda: colorizer.predict_ab(lightness, **decoding)


def timed(rows: list[tuple[dict, Callable]], rounds: int) -> list[dict]:
    """The rows with their median forward milliseconds and their fraction of the last row's (Zhang's),
    measured in interleaved rounds after 5 warm-up rounds (a fresh process ran its first passes up to 1.6x
    slower)."""
    with torch.inference_mode():
        seconds = interleaved_medians({row["model"]: call for row, call in rows}, rounds=rounds, warmup=5)
    reference = seconds[rows[-1][0]["model"]]
    return [
        {**row, "ms": seconds[row["model"]] * 1000, "fraction_of_zhang": seconds[row["model"]] / reference}
        for row, _ in rows
    ]


def run_cli(args: list[str]) -> dict[str, float]:
    """Wall time and peak RSS (MB) of one CLI run, measured on that child process alone."""
    return measure([str(CHROMALAB), *args])


def startup_row(runs: int = 3) -> dict[str, float]:
    """Median seconds to start Python and import the CLI modules, and to import torch, in fresh processes."""

    def seconds(code: str) -> float:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    return {
        "python_and_cli_s": seconds("import chromalab.cli"),
        "import_torch_s": seconds("import torch"),
        "import_onnxruntime_s": seconds("import onnxruntime"),
    }


def stage_row(colorizer: BaseColorizer, photo: Path, out: Path, runs: int = 3) -> dict[str, float]:
    """Median milliseconds of each step of ``colorize`` on one photo, in this process."""
    samples: dict[str, list[float]] = {k: [] for k in ("open", "prepare", "network", "render", "encode")}
    for _ in range(runs):
        times = [time.perf_counter()]
        image = open_image(photo)
        times.append(time.perf_counter())
        prepared = colorizer.prepare(image)
        times.append(time.perf_counter())
        ab_small = colorizer.predict_ab(prepared.network_input)
        times.append(time.perf_counter())
        result = colorizer.render(prepared.source, ab_small)
        times.append(time.perf_counter())
        save_image(result, out)
        times.append(time.perf_counter())
        for name, start, end in zip(samples, times, times[1:], strict=False):
            samples[name].append((end - start) * 1000)
    return {f"{name}_ms": statistics.median(values) for name, values in samples.items()}


def loop_row(colorizer: BaseColorizer, folder: Path, out: Path) -> dict[str, float]:
    """Photos per second of the CLI's folder loop in this process (no start-up), and of a plain loop."""
    jobs, _ = expand_inputs([str(folder)])
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    start = time.perf_counter()
    assert colorize_all(colorizer, jobs, out) == 0
    overlapped = len(jobs) / (time.perf_counter() - start)
    start = time.perf_counter()
    for src, relative in jobs:
        save_image(colorizer.colorize(open_image(src)), out / f"plain-{relative.name}")
    return {
        "overlapped_photos_per_s": overlapped,
        "one_by_one_photos_per_s": len(jobs) / (time.perf_counter() - start),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    # random weights drift into denormal activations, which time the CPU, not the net
    torch.set_flush_denormal(True)
    path = bundled_weights() if args.model == "default" else Path(args.model)
    meta = read_metadata(path)
    load_start = os.getloadavg()[0]

    q = 313
    rows = timed(
        [
            network_row(meta["model"], meta.get("options", {}), q, weights=path),
            network_row("zhang-eccv16", {"width": 0.25}, q),
            network_row("zhang-eccv16", {}, q),
        ],
        args.runs,
    )
    with tempfile.TemporaryDirectory(prefix="chromalab-bench-") as tmp:
        folder = Path(tmp)
        graph = bundled_weights(suffix=".onnx") if args.model == "default" else folder / "model.onnx"
        if not graph.is_file():
            export_onnx(path, graph)
        rows[1:1] = timed(
            [
                onnx_row(graph, "the same, ONNX on onnxruntime (with decoding)"),
                onnx_row(graph, "the same", own_view=True),
                onnx_row(zhang_graph(folder), "zhang-eccv16, ONNX (with decoding)"),
            ],
            args.runs,
        )
        print(
            f"{'network at 256x256 (the model file; zhang: Q=313)':44s} {'params M':>9s} {'GFLOP':>7s} "
            f"{'ms':>8s} {'floor ms':>9s} {'vs zhang':>9s}"
        )
        for row in rows:
            print(
                f"{row['model']:44s} {row.get('params_M', float('nan')):9.2f} "
                f"{row.get('gflops', float('nan')):7.2f} {row['ms']:8.1f} "
                f"{row.get('floor_ms', float('nan')):9.1f} {row['fraction_of_zhang']:9.3f}"
            )
        print(
            "(torch rows: ratio to torch's zhang-eccv16; ONNX rows: to zhang's graph on onnxruntime; "
            "interleaved)"
        )

        photo = Image.fromarray(skimage.data.astronaut()).convert("L")
        photo.resize((4000, 3000), Image.Resampling.BICUBIC).save(folder / "big.jpg", quality=92)
        many = folder / "many"
        many.mkdir()
        sources = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
        for i in range(100):
            image = Image.fromarray(sources[i % 3]).convert("L").resize((816, 612)).rotate(i % 7)
            image.save(many / f"photo-{i:03d}.jpg", quality=90)
        models = {"onnx": graph, "torch": path}
        big, folder_run, stages, loop = {}, {}, {}, {}
        for engine, model in models.items():
            engine_args = ["--model", str(model), "--engine", engine]
            big[engine] = run_cli(
                ["colorize", str(folder / "big.jpg"), "-o", str(folder / f"out-big-{engine}"), *engine_args]
            )
            folder_run[engine] = run_cli(
                ["colorize", str(many), "-o", str(folder / f"out-many-{engine}"), *engine_args]
            )
            folder_run[engine]["photos_per_s"] = 100 / folder_run[engine]["wall_s"]
        startup = startup_row()
        for engine, colorizer in (("onnx", OnnxColorizer.load(graph)), ("torch", Colorizer.load(path))):
            stages[engine] = stage_row(colorizer, folder / "big.jpg", folder / "stage.jpg")
            loop[engine] = loop_row(colorizer, many, folder / f"out-loop-{engine}")
    for engine in models:
        print(
            f"[{engine:5s}] 12 MP JPEG end to end: {big[engine]['wall_s']:.2f} s (target < 1.5), peak RSS "
            f"{big[engine]['peak_rss_mb']:.0f} MB (< 1500); 100 photos of 0.5 MP: "
            f"{folder_run[engine]['wall_s']:.2f} s = {folder_run[engine]['photos_per_s']:.1f} photos/s (>= "
            f"10)"
        )
    print(
        f"start-up: python + CLI modules {startup['python_and_cli_s'] * 1000:.0f} ms, import torch "
        f"{startup['import_torch_s'] * 1000:.0f} ms, import onnxruntime "
        f"{startup['import_onnxruntime_s'] * 1000:.0f} ms "
        "(fresh processes, medians)"
    )
    for engine in models:
        print(
            f"[{engine:5s}] 12 MP steps in one process (ms): "
            + ", ".join(f"{k.removesuffix('_ms')} {v:.0f}" for k, v in stages[engine].items())
        )
        print(
            f"[{engine:5s}] folder loop in one process: {loop[engine]['overlapped_photos_per_s']:.1f} "
            f"photos/s as the CLI runs it, {loop[engine]['one_by_one_photos_per_s']:.1f} one photo after "
            f"another"
        )
    load_end = os.getloadavg()[0]
    print(
        f"load average: {load_start:.2f} at start, {load_end:.2f} at end (2 cores, shared); OpenMP threads: "
        f"{THREAD_WAIT}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "networks": rows,
                "big_jpeg": big,
                "folder_100": folder_run,
                "startup": startup,
                "big_jpeg_steps": stages,
                "folder_loop": loop,
                "load": [load_start, load_end],
                "openmp_wait": THREAD_WAIT,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
