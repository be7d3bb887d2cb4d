"""Video benchmark: flicker and quality on the shared clips, and speed, ``--temporal flow`` against ``none``.

    python bench/bench_video.py [--videos ../shared/data/video] [--frames N]      (part of ``make bench``)

1. Quality on every clip of ``--videos`` (the first ``--frames`` frames; all by default), colorized by the
   bundled model with the stabiliser and without: CDC, warping error, mean colourfulness and PSNR, and the
   same temporal numbers of the ground truth. Targets: CDC at least 30 % lower, warping error lower,
   colourfulness at most 10 % lower, PSNR at most 0.3 dB lower.
2. Speed of ``chromalab colorize`` (stabiliser on) in a child process on 60-frame clips at 640x360 and
   1920x1080 made from the street clip: frames per second, start-up included (targets 15 and 4), and the
   child's peak resident memory (target under 1.5 GB at 1080p); and a 600-frame 640x360 clip, whose peak
   memory, the same as the 60-frame one's, shows that the clip streams.
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
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image
from probe import measure  # bench/probe.py, beside this script

from chromalab.colorize.torch_backend import Colorizer
from chromalab.evaluation.clip_score import clip_summary, evaluate_clips
from chromalab.video.clips import frames
from chromalab.video.colorize_clip import FramePainter

RESULTS = Path(__file__).parent / "results" / "video.json"
CHROMALAB = Path(sys.executable).parent / "chromalab"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
SIZES = {"640x360": (640, 360), "1920x1080": (1920, 1080)}


def quality(clip: Path, colorizer: Colorizer, max_frames: int | None) -> dict[str, dict[str, float]]:
    rows = {}
    for temporal in ("none", "flow"):
        result, clips = evaluate_clips([clip], colorizer, temporal=temporal, max_frames=max_frames)
        summary = clip_summary(result, clips, {})
        metrics = summary["metrics"]
        rows[temporal] = {key: metrics[key] for key in ("cdc", "warping_error", "colorfulness", "psnr")}
        rows["ground_truth"] = summary["ground_truth"]
        rows["frames"] = summary["images"]
    none, flow = rows["none"], rows["flow"]
    rows["change"] = {"cdc_pct": 100 * (flow["cdc"] / none["cdc"] - 1),
                      "warping_error_pct": 100 * (flow["warping_error"] / none["warping_error"] - 1),
                      "colorfulness_pct": 100 * (flow["colorfulness"] / none["colorfulness"] - 1),
                      "psnr_db": flow["psnr"] - none["psnr"]}
    return rows


def scaled_clip(source: Path, target: Path, size: tuple[int, int], count: int = 60) -> None:
    with av.open(str(target), mode="w") as output:
        stream = output.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height = size
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "18", "preset": "veryfast"}
        for _, rgb in zip(range(count), frames(source)):
            picture = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


def speed(source: Path, folder: Path) -> dict[str, dict[str, float]]:
    """Each size with 60 frames, and 640x360 with 600: the same peak memory says the clip streams."""
    rows = {}
    for (name, size), count in [*((item, 60) for item in SIZES.items()), (("640x360", SIZES["640x360"]), 600)]:
        clip = folder / f"street-{name}-{count}.mp4"
        scaled_clip(source, clip, size, count)
        run = measure([str(CHROMALAB), "colorize", str(clip), "-o", str(folder / "out"), "--overwrite"])
        rows[f"{name}, {count} frames"] = {**run, "frames_per_s": count / run["wall_s"]}
    return rows


def strip(clip: Path, colorizer: Colorizer, target: Path, *, first: int = 40, count: int = 6, step: int = 3) -> None:
    """Rows: truth, per-frame, stabilised; columns: frames first, first + step, ... (each 256 pixels wide)."""
    chosen = set(range(first, first + count * step, step))
    painters = {temporal: FramePainter(colorizer, temporal=temporal) for temporal in ("none", "flow")}
    rows: dict[str, list[np.ndarray]] = {"truth": [], "none": [], "flow": []}
    for index, rgb in enumerate(frames(clip)):
        if index >= first + count * step:
            break
        painted = {temporal: painter(rgb) for temporal, painter in painters.items()}  # every frame: the flow needs them
        if index in chosen:
            for name, picture in (("truth", rgb), *painted.items()):
                rows[name].append(np.asarray(Image.fromarray(picture).resize((256, 192), Image.Resampling.LANCZOS)))
    sheet = np.concatenate([np.concatenate(row, axis=1) for row in rows.values()], axis=0)
    Image.fromarray(sheet).save(target, quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=Path, default=SHARED)
    parser.add_argument("--frames", type=int, default=None, help="score at most the first N frames of each clip")
    parser.add_argument("--strip", type=Path, default=None, help="write the street clip's comparison strip here")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    colorizer = Colorizer.load("default")
    clips = sorted(args.videos.glob("*.avi")) + sorted(args.videos.glob("*.mp4"))
    results: dict[str, object] = {"quality": {}}
    for clip in clips:
        started = time.perf_counter()
        rows = quality(clip, colorizer, args.frames)
        results["quality"][clip.name] = rows
        change = rows["change"]
        print(f"{clip.name} ({rows['frames']} frames, {time.perf_counter() - started:.0f} s): CDC {rows['none']['cdc']:.5f}"
              f" -> {rows['flow']['cdc']:.5f} ({change['cdc_pct']:+.0f} %, target <= -30; truth "
              f"{rows['ground_truth']['cdc']:.5f}), warping error {rows['none']['warping_error']:.5f} -> "
              f"{rows['flow']['warping_error']:.5f} ({change['warping_error_pct']:+.0f} %; truth "
              f"{rows['ground_truth']['warping_error']:.5f}), colourfulness {change['colorfulness_pct']:+.1f} % "
              f"(>= -10), PSNR {change['psnr_db']:+.2f} dB (>= -0.3)", flush=True)
    street = args.videos / "street.avi"
    if street.is_file():
        with tempfile.TemporaryDirectory(prefix="chromalab-bench-video-") as tmp:
            results["speed"] = speed(street, Path(tmp))
        for name, row in results["speed"].items():
            print(f"chromalab colorize, {name}: {row['frames_per_s']:.1f} frames/s start-up included "
                  f"(target {15 if name.startswith('640x360') else 4}), peak RSS {row['peak_rss_mb']:.0f} MB (< 1500)")
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
