"""Video benchmark: flicker and quality on the shared clips, and speed, ``--temporal flow`` against
``none``.

    python bench/bench_video.py [--videos ../shared/data/video] [--frames N]      (part of ``make bench``)

1. Quality on every clip of ``--videos`` (the first ``--frames`` frames; all by default), colorized by the
   bundled model with the stabiliser (for each ``--network-every``) and without: CDC, warping error, mean
   colourfulness and PSNR, and the same temporal numbers of the ground truth; and the CDC that the clip's
   lightness alone makes (frame 0's true colour held still on every frame's L: a colorizer keeps L). Targets:
   CDC at least 30 % lower, warping error lower,
   colourfulness at most 10 % lower, PSNR at most 0.3 dB lower.
2. Speed of ``chromalab colorize`` (stabiliser on) in a child process on 60-frame clips at 640x360 and
   1920x1080 made from the street clip: frames per second, start-up included (targets 15 and 4), and the
   child's peak resident memory (target under 1.5 GB at 1080p); and a 600-frame 640x360 clip: its peak memory,
   the same as the 60-frame one's, shows that the clip streams, and (600 - 60) frames over the difference of
   the two wall times is the steady rate, start-up excluded. ``--long``: also a 10-minute clip (the street
   clip looped, 320x180 at 10 frames/s, 6,000 frames) against a 1-minute one: the same peak memory.
3. ``--strip FILE``: a picture of the difference: ground truth, per-frame and stabilised colour of the same
   frames of the street clip, one row each.

Writes ``bench/results/video.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image
from probe import measure  # bench/probe.py, beside this script

from chromalab.color.srgb8 import rgb_lightness_u8, upsample_lab_to_srgb8
from chromalab.colorize.torch_backend import Colorizer
from chromalab.evaluation.clip_score import clip_summary, evaluate_clips
from chromalab.evaluation.metrics import rgb8_to_ab
from chromalab.evaluation.temporal import TemporalScores
from chromalab.video.clips import frames
from chromalab.video.colorize_clip import FramePainter
from chromalab.video.settings import NETWORK_EVERY

RESULTS = Path(__file__).parent / "results" / "video.json"
CHROMALAB = Path(sys.executable).parent / "chromalab"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
SIZES = {"640x360": (640, 360), "1920x1080": (1920, 1080)}


def quality(
    clip: Path, colorizer: Colorizer, max_frames: int | None, network_every: list[int]
) -> dict[str, dict]:
    """Rows "none" and "flow, network every N" for each N: the clip's numbers and (for flow) the change."""
    rows: dict[str, dict] = {}
    for temporal, every in (("none", 1), *(("flow", n) for n in network_every)):
        result, clips = evaluate_clips(
            [clip], colorizer, temporal=temporal, network_every=every, max_frames=max_frames
        )
        summary = clip_summary(result, clips, {})
        metrics = summary["metrics"]
        row = {key: metrics[key] for key in ("cdc", "warping_error", "colorfulness", "psnr")}
        rows["ground_truth"], rows["frames"] = summary["ground_truth"], summary["images"]
        if temporal == "none":
            rows["none"] = row
            continue
        none = rows["none"]
        row["change"] = {
            "cdc_pct": 100 * (row["cdc"] / none["cdc"] - 1),
            "warping_error_pct": 100 * (row["warping_error"] / none["warping_error"] - 1),
            "colorfulness_pct": 100 * (row["colorfulness"] / none["colorfulness"] - 1),
            "psnr_db": row["psnr"] - none["psnr"],
        }
        rows[f"flow, network every {every}"] = row
    rows["frozen_colour_cdc"] = frozen_color_cdc(clip, max_frames)
    return rows


def frozen_color_cdc(clip: Path, max_frames: int | None) -> float:
    """CDC of the clip's own lightness under the first frame's true colour, held still: what the lightness
    alone flickers, which a colorizer keeps (it never changes L)."""
    scores, first_ab = TemporalScores(), None
    for index, rgb in enumerate(frames(clip)):
        if max_frames is not None and index >= max_frames:
            break
        first_ab = rgb8_to_ab(rgb) if first_ab is None else first_ab
        scores.add(upsample_lab_to_srgb8(rgb_lightness_u8(rgb), first_ab), None)
    return scores.summary()["cdc"]


def looped(source: Path) -> Iterator[np.ndarray]:
    while True:
        yield from frames(source)


ENGINES = ("onnx", "torch")


def scaled_clip(source: Path, target: Path, size: tuple[int, int], count: int = 60, rate: int = 25) -> None:
    with av.open(str(target), mode="w") as output:
        stream = output.add_stream("libx264", rate=Fraction(rate))
        stream.width, stream.height = size
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "18", "preset": "veryfast"}
        for _, rgb in zip(range(count), looped(source), strict=False):
            picture = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


def speed(source: Path, folder: Path, network_every: int) -> dict[str, dict[str, float]]:
    """Each size with 60 frames, and 640x360 with 600 (the same peak memory says the clip streams), on each
    engine in turn, in one run: onnxruntime (the graph's logits decoded in numpy) and torch."""
    rows = {}
    for (name, size), count in [
        *((item, 60) for item in SIZES.items()),
        (("640x360", SIZES["640x360"]), 600),
    ]:
        clip = folder / f"street-{name}-{count}.mp4"
        scaled_clip(source, clip, size, count)
        for engine in ENGINES:
            colorize = [str(CHROMALAB), "colorize", str(clip), "-o", str(folder / "out"), "--overwrite"]
            run = measure([*colorize, "--network-every", str(network_every), "--engine", engine])
            rows[f"{name}, {count} frames, {engine}"] = {**run, "frames_per_s": count / run["wall_s"]}
    for engine in ENGINES:
        short, long = rows[f"640x360, 60 frames, {engine}"], rows[f"640x360, 600 frames, {engine}"]
        rows[f"640x360, steady, {engine}"] = {"frames_per_s": 540 / (long["wall_s"] - short["wall_s"])}
    return rows


def long_clip(source: Path, folder: Path) -> dict[str, dict[str, float]]:
    """Peak memory of a 1-minute and a 10-minute clip (320x180, 10 frames/s): flat if the clip streams."""
    rows = {}
    for minutes in (1, 10):
        clip = folder / f"street-{minutes}min.mp4"
        scaled_clip(source, clip, (320, 180), minutes * 600, rate=10)
        run = measure([str(CHROMALAB), "colorize", str(clip), "-o", str(folder / "out"), "--overwrite"])
        rows[f"{minutes} min"] = {**run, "frames": minutes * 600}
        print(
            f"{minutes}-minute clip: {run['wall_s']:.0f} s, peak RSS {run['peak_rss_mb']:.0f} MB", flush=True
        )
    return rows


def strip(
    clip: Path, colorizer: Colorizer, target: Path, *, first: int = 40, count: int = 6, step: int = 3
) -> None:
    """Rows: truth, per-frame, stabilised; columns: frames first, first + step, ... (each 256 pixels wide)."""
    chosen = set(range(first, first + count * step, step))
    painters = {temporal: FramePainter(colorizer, temporal=temporal) for temporal in ("none", "flow")}
    rows: dict[str, list[np.ndarray]] = {"truth": [], "none": [], "flow": []}
    for index, rgb in enumerate(frames(clip)):
        if index >= first + count * step:
            break
        # every frame: the flow needs them
        painted = {temporal: painter(rgb) for temporal, painter in painters.items()}
        if index in chosen:
            for name, picture in (("truth", rgb), *painted.items()):
                rows[name].append(
                    np.asarray(Image.fromarray(picture).resize((256, 192), Image.Resampling.LANCZOS))
                )
    sheet = np.concatenate([np.concatenate(row, axis=1) for row in rows.values()], axis=0)
    Image.fromarray(sheet).save(target, quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=Path, default=SHARED)
    parser.add_argument(
        "--frames", type=int, default=None, help="score at most the first N frames of each clip"
    )
    parser.add_argument(
        "--strip", type=Path, default=None, help="write the street clip's comparison strip here"
    )
    parser.add_argument(
        "--long", action="store_true", help="also a 10-minute clip's peak memory (several minutes)"
    )
    parser.add_argument(
        "--network-every",
        type=int,
        nargs="+",
        default=[NETWORK_EVERY],
        help="quality: score the stabiliser with each of these (one row each)",
    )
    parser.add_argument(
        "--speed-every", type=int, default=NETWORK_EVERY, help="speed: --network-every of the runs"
    )
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    colorizer = Colorizer.load("default")
    clips = sorted(args.videos.glob("*.avi")) + sorted(args.videos.glob("*.mp4"))
    results: dict[str, object] = {"quality": {}}
    for clip in clips if not args.skip_quality else []:
        started = time.perf_counter()
        rows = quality(clip, colorizer, args.frames, args.network_every)
        results["quality"][clip.name] = rows
        none, truth = rows["none"], rows["ground_truth"]
        print(
            f"{clip.name} ({rows['frames']} frames, {time.perf_counter() - started:.0f} s; truth: CDC "
            f"{truth['cdc']:.5f}, warping error {truth['warping_error']:.5f}; its lightness under frame 0's "
            f"true colour held still: CDC {rows['frozen_colour_cdc']:.5f}); per frame: CDC "
            f"{none['cdc']:.5f}, warping error {none['warping_error']:.5f}",
            flush=True,
        )
        for name, row in rows.items():
            if isinstance(row, dict) and "change" in row:
                change = row["change"]
                print(
                    f"  {name}: CDC {row['cdc']:.5f} ({change['cdc_pct']:+.0f} %, target <= -30), warping "
                    f"error {row['warping_error']:.5f} ({change['warping_error_pct']:+.0f} %), "
                    f"colourfulness {change['colorfulness_pct']:+.1f} % (>= -10), PSNR "
                    f"{change['psnr_db']:+.2f} dB (>= -0.3)",
                    flush=True,
                )
    street = args.videos / "street.avi"
    if street.is_file():
        with tempfile.TemporaryDirectory(prefix="chromalab-bench-video-") as tmp:
            if not args.skip_speed:
                results["speed"] = speed(street, Path(tmp), args.speed_every)
                for name, row in results["speed"].items():
                    extra = f", peak RSS {row['peak_rss_mb']:.0f} MB (< 1500)" if "peak_rss_mb" in row else ""
                    print(
                        f"chromalab colorize, {name}: {row['frames_per_s']:.1f} frames/s "
                        f"{'start-up excluded' if 'steady' in name else 'start-up included'} "
                        f"(target {15 if name.startswith('640x360') else 4}){extra}",
                        flush=True,
                    )
            if args.long:
                results["long"] = long_clip(street, Path(tmp))
        if args.strip is not None:
            strip(street, colorizer, args.strip)
            print(f"wrote {args.strip}")
    load_end = os.getloadavg()[0]
    print(f"load average: {load_start:.2f} at start, {load_end:.2f} at end (2 cores, shared)")
    results["load_average"] = [load_start, load_end]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
