"""Colour from a reference photo: how much a reference helps, how little a wrong one hurts, what it costs.

    python bench/bench_reference.py [--model default] [--engines onnx torch] [--val-limit 100]

1. Quality, for each evaluation set (kodak24, cbsd68 and val128, the last limited to ``--val-limit`` photos
   evenly spaced): mean PSNR of ``colorize(photo)`` and of ``colorize(photo, reference=...)`` with four
   references: the truth seen differently (mirrored, cropped to 80 % and shifted: ``transformed_truth``),
   an unrelated photo (the next photo of the set), random noise, and the truth in grey. Also the share of
   the photo's cells that matched. Targets (issue "Colour from a reference"): transformed truth at least
   +3 dB over no reference; unrelated at most 0.5 dB below; noise and grey within 1 dB.
2. Film (``--clips``: street.avi and tree.avi of ``../shared/data/video``, their first ``--clip-frames``
   frames): PSNR and CDC of the automatic clip and of the clip given keyframes every ``--keyframe-every``
   frames taken from the truth (``video.keyframes``), and the CDC of the truth's own colours at the network's
   grid (``cdc_truth_at_grid``: CDC favours pale clips, so right colours may score above the automatic
   clip). Targets: at least +2 dB, CDC no worse. And frames/s at
   640x360 with and without the keyframes, interleaved clip by clip. Target: at least 15 frames/s.
3. Speed on a 1-megapixel photo (astronaut, 1000 x 1000) with a 1-megapixel reference: the median time of
   ``colorize`` with and without the reference, interleaved in one run. Target: at most 1 s added.

Writes ``bench/results/reference.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle threads sleep: a busy machine stays fair

import numpy as np
import skimage.data
from PIL import Image

from chromalab.color.srgb8 import rgb8_to_lab, rgb_lightness_u8
from chromalab.colorize.loading import load_colorizer
from chromalab.colorize.reference import Reference, match_reference
from chromalab.evaluation.clip_score import clip_summary, evaluate_clips
from chromalab.evaluation.metrics import psnr
from chromalab.evaluation.temporal import TemporalScores
from chromalab.images import Lightness, evenly_spaced, list_images, open_rgb, resize_channels
from chromalab.video.clips import frames
from chromalab.video.colorize_clip import FramePainter
from chromalab.video.keyframes import ClipReferences

RESULTS = Path(__file__).parent / "results" / "reference.json"  # --out to write elsewhere
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {
    "kodak24": SHARED / "eval" / "kodak24",
    "cbsd68": SHARED / "eval" / "cbsd68",
    "val128": SHARED / "val128",
}
REFERENCES = ("transformed_truth", "unrelated", "noise", "grey")


def transformed_truth(rgb: np.ndarray) -> np.ndarray:
    """The truth seen differently: mirrored left to right, then cropped to 80 % of each side, the crop a
    third of the way down and two thirds of the way across (so shifted as well as smaller)."""
    height, width, _ = rgb.shape
    crop_h, crop_w = int(height * 0.8), int(width * 0.8)
    top, left = (height - crop_h) // 3, (width - crop_w) * 2 // 3
    return np.ascontiguousarray(rgb[:, ::-1][top : top + crop_h, left : left + crop_w])


def references_for(truths: list[np.ndarray], index: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    truth = truths[index]
    grey = np.asarray(Image.fromarray(truth).convert("L").convert("RGB"))
    return {
        "transformed_truth": transformed_truth(truth),
        "unrelated": truths[(index + 1) % len(truths)],
        "noise": rng.integers(0, 256, (300, 400, 3), dtype=np.uint8),
        "grey": grey,
    }


def quality(colorizer: object, folder: Path, limit: int | None) -> dict[str, object]:
    """Mean PSNR without and with each kind of reference, and the share of matched cells."""
    truths = [open_rgb(path) for path in evenly_spaced(list_images(folder), limit)]
    rng = np.random.default_rng(0)
    scores: dict[str, list[float]] = {"none": [], **{kind: [] for kind in REFERENCES}}
    matched: dict[str, list[float]] = {kind: [] for kind in REFERENCES}
    for index, truth in enumerate(truths):
        scores["none"].append(psnr(np.asarray(colorizer.colorize(truth)), truth))
        for kind, reference in references_for(truths, index, rng).items():
            scores[kind].append(psnr(np.asarray(colorizer.colorize(truth, reference=reference)), truth))
            matched[kind].append(_matched_share(colorizer, truth, Reference(reference)))
    none = statistics.fmean(scores["none"])
    result: dict[str, object] = {"photos": len(truths), "psnr_none": round(none, 3)}
    for kind in REFERENCES:
        mean = statistics.fmean(scores[kind])
        result[kind] = {
            "psnr": round(mean, 3),
            "gain_db": round(mean - none, 3),
            "matched_share": round(statistics.fmean(matched[kind]), 3),
        }
    return result


def _matched_share(colorizer: object, truth: np.ndarray, reference: Reference) -> float:
    prepared = colorizer.prepare(truth)
    maps = colorizer.encoder_maps(colorizer.encode(prepared.network_input))
    side = prepared.network_input.shape[-1]
    return match_reference(colorizer, maps, reference, side).matched_share


def speed(colorizer: object, repeats: int) -> dict[str, float]:
    """Median seconds of colorize on a 1-MP photo with and without a 1-MP reference, interleaved."""
    photo = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((1000, 1000)))
    reference = np.asarray(Image.fromarray(skimage.data.coffee()).resize((1000, 1000)))
    colorizer.colorize(photo, reference=reference)  # warm-up
    plain, with_reference = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        colorizer.colorize(photo)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        colorizer.colorize(photo, reference=reference)
        with_reference.append(time.perf_counter() - start)
    plain_s, reference_s = statistics.median(plain), statistics.median(with_reference)
    return {
        "plain_s": round(plain_s, 4),
        "reference_s": round(reference_s, 4),
        "added_s": round(reference_s - plain_s, 4),
    }


def film(colorizer: object, clip: Path, frame_count: int, every: int) -> dict[str, object]:
    """The clip's numbers without and with keyframes every ``every`` frames from its truth. PSNR is the mean
    over the frames between the keyframes (a keyframe's own frame is given its truth, so scoring it would
    flatter the keyed clip); CDC is over every frame."""
    keyframes = {
        index: rgb for index, rgb in enumerate(frames(clip)) if index < frame_count and index % every == 0
    }
    rows: dict[str, object] = {"frames": frame_count, "keyframes": sorted(keyframes)}
    for name, references in (("automatic", None), ("keyframes", ClipReferences(keyframes))):
        result, clips = evaluate_clips(
            [clip], colorizer, max_frames=frame_count, references=lambda path, given=references: given
        )
        between = [row["psnr"] for index, row in enumerate(result.model.rows) if index not in keyframes]
        cdc = clip_summary(result, clips, {})["metrics"]["cdc"]
        rows[name] = {"psnr_between_keyframes": round(statistics.fmean(between), 3), "cdc": round(cdc, 5)}
    rows["gain_db"] = round(
        rows["keyframes"]["psnr_between_keyframes"] - rows["automatic"]["psnr_between_keyframes"], 3
    )
    rows["cdc_truth_at_grid"] = round(truth_at_grid_cdc(colorizer, clip, frame_count), 5)
    return rows


def truth_at_grid_cdc(colorizer: object, clip: Path, frame_count: int) -> float:
    """CDC of the truth's own colours brought to the network's output grid and rendered as the colorizer
    renders: what perfectly right colours score at the resolution the network answers in. CDC rewards pale
    colours (a grey clip scores best): this is the yardstick for a clip whose colours come from the truth."""
    scores, grid = TemporalScores(), None
    for _, rgb in zip(range(frame_count), frames(clip), strict=False):
        source = Lightness(rgb_lightness_u8(rgb), None)
        if grid is None:  # (h, w), the network's answer's
            grid = np.asarray(colorizer.network_output(colorizer.view(source).network_input)).shape[-2:]
        ab = rgb8_to_lab(rgb)[1:]  # (2, H, W)
        at_grid = resize_channels(ab, grid[::-1])  # (2, h, w)
        scores.add(np.asarray(colorizer.render(source, at_grid[None])), None)
    return scores.summary()["cdc"]


def film_speed(colorizer: object, clip: Path, frame_count: int, every: int, repeats: int) -> dict[str, float]:
    """Frames/s at 640x360 (the clip resized), with keyframes every ``every`` frames and without,
    interleaved: painting alone, no decoding or encoding of the files."""
    shown = [
        np.asarray(Image.fromarray(rgb).resize((640, 360), Image.Resampling.BILINEAR))
        for index, rgb in zip(range(frame_count), frames(clip), strict=False)
    ]
    keyframes = {index: shown[index] for index in range(0, len(shown), every)}
    rates: dict[str, list[float]] = {"automatic": [], "keyframes": []}
    for _ in range(repeats):
        for name, references in (("automatic", None), ("keyframes", ClipReferences(keyframes))):
            painter = FramePainter(colorizer, references=references)
            start = time.perf_counter()
            for rgb in shown:
                painter(rgb)
            rates[name].append(len(shown) / (time.perf_counter() - start))
    return {f"{name}_fps": round(statistics.median(values), 2) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--engines", nargs="+", default=["onnx", "torch"])
    parser.add_argument("--val-limit", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--clips", nargs="*", default=["street.avi", "tree.avi"])
    parser.add_argument("--clip-frames", type=int, default=200)
    parser.add_argument("--keyframe-every", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report: dict[str, object] = {"model": args.model}
    for engine in args.engines:
        colorizer = load_colorizer(args.model, engine=engine)
        measured: dict[str, object] = {"speed_1mp": speed(colorizer, args.repeats)}
        print(engine, "speed", measured["speed_1mp"], flush=True)
        for name in args.sets:
            limit = args.val_limit if name == "val128" else None
            measured[name] = quality(colorizer, SETS[name], limit)
            print(engine, name, json.dumps(measured[name]), flush=True)
        for clip in args.clips:
            path = SHARED / "video" / clip
            measured[clip] = film(colorizer, path, args.clip_frames, args.keyframe_every)
            print(engine, clip, json.dumps(measured[clip]), flush=True)
        if args.clips:
            path = SHARED / "video" / args.clips[0]
            measured["film_speed_640x360"] = film_speed(
                colorizer, path, min(args.clip_frames, 100), args.keyframe_every, max(1, args.repeats // 3)
            )
            print(engine, "film speed", measured["film_speed_640x360"], flush=True)
        report[engine] = measured
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
