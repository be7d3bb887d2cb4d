"""Video: short cuts of the shared real clips (a street, a tree in wind) written as real files, colorized
by the installed command; the temporal metrics against references; the stabiliser against plain per-frame
colour."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import CHROMALAB, hears_ctrl_c, shared_clip, write_cut, write_tone
from PIL import Image
from scipy.spatial.distance import jensenshannon

from chromalab.colorize.torch_backend import Colorizer
from chromalab.evaluation.metrics import colorfulness
from chromalab.evaluation.temporal import TemporalScores, js_divergence, rgb_histograms, truth_motion
from chromalab.video.clips import frames
from chromalab.video.colorize_clip import FramePainter
from chromalab.video.flow import warp


def run(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMALAB), *map(str, args)], capture_output=True, text=True, check=False, cwd=cwd, timeout=600
    )


def test_a_clip_keeps_its_frames_size_rate_and_audio(tmp_path: Path) -> None:
    clip = tmp_path / "street.mp4"
    write_cut(shared_clip("street"), clip, 12, audio=True)
    (tmp_path / "broken.mp4").write_bytes(clip.read_bytes()[:3000])
    done = run("colorize", clip, tmp_path / "broken.mp4", "-o", tmp_path / "out")
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "broken.mp4" in done.stderr and "Traceback" not in done.stderr
    with av.open(str(tmp_path / "out" / "street.mp4")) as output:
        video = output.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (768, 576)
        assert video.average_rate == 10 and len(list(output.decode(video=0))) == 12
    with av.open(str(tmp_path / "out" / "street.mp4")) as output, av.open(str(clip)) as original:
        assert output.streams.audio[0].codec_context.name == "aac"
        copied = [bytes(p) for p in output.demux(audio=0) if p.size]
        assert copied == [bytes(p) for p in original.demux(audio=0) if p.size]  # the audio, unchanged
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["street.mp4"]  # nothing of the broken one


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_leaves_no_partial_output(tmp_path: Path, stop: signal.Signals) -> None:
    process = subprocess.Popen(
        [str(CHROMALAB), "colorize", str(shared_clip("street")), "-o", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=hears_ctrl_c,
    )
    deadline = time.monotonic() + 60
    while not any((tmp_path / "out").glob(".street.mp4.*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the temporary file exists: the clip is being written
    # a run that ended before the signal proves nothing either way: say which of the two went wrong
    assert process.poll() is None, f"the clip was done before the signal: {process.communicate()}"
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0, stderr  # the signal was heard, not swallowed
    assert list((tmp_path / "out").iterdir()) == []  # no street.mp4, no temporary file


def test_the_temporal_metrics_against_references() -> None:
    rng = np.random.default_rng(0)
    p, q = rng.random((3, 256)), rng.random((3, 256))
    p, q = p / p.sum(1, keepdims=True), q / q.sum(1, keepdims=True)
    # natural log
    np.testing.assert_allclose(js_divergence(p, q), jensenshannon(p, q, axis=1) ** 2, rtol=1e-10)
    frame = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    assert rgb_histograms(frame).sum(1) == pytest.approx([1, 1, 1])
    steady = TemporalScores()
    for _ in range(6):
        steady.add(frame, None if not steady.histograms else truth_motion(frame, frame))
    assert steady.summary() == {"cdc": 0.0, "warping_error": 0.0}
    # 96 x 128
    textured = np.kron((rng.random((12, 16, 3)) * 255).astype(np.uint8), np.ones((8, 8, 1), np.uint8))
    moving, previous = TemporalScores(), None
    for shift in range(0, 12, 2):  # the same picture sliding right: the flow explains it all
        current = np.roll(textured, shift, axis=1)
        moving.add(current, None if previous is None else truth_motion(previous, current))
        previous = current
    flickering = TemporalScores()
    for k in range(6):
        flickering.add(np.clip(textured.astype(int) + (30 if k % 2 else -30), 0, 255).astype(np.uint8), None)
    assert moving.summary()["warping_error"] < 0.01
    assert flickering.summary()["cdc"] > 10 * (moving.summary()["cdc"] + 1e-3)


def test_warping_many_channels_moves_each_as_alone() -> None:
    """261 channels (the stabiliser's logits), each a ramp of its own slope, moved 2.3 pixels: every channel
    lands where its ramp says, as the exact 4-channel path puts it, within the 1/32-pixel placement of
    cv2.remap's many-channel path (half a step: 1/64 pixel times the slope)."""
    height, width, count = 12, 40, 261
    slopes = np.linspace(0.5, 3.0, count, dtype=np.float32)  # units per pixel
    ramps = np.arange(width, dtype=np.float32)[None, :, None] * slopes + np.zeros((height, 1, 1), np.float32)
    offsets = np.zeros((height, width, 2), np.float32)
    offsets[..., 0] = 2.3
    moved = warp(ramps, offsets)
    assert moved.shape == ramps.shape
    inside = slice(0, width - 3)  # away from the repeated edge
    expected = (np.arange(width, dtype=np.float32)[inside, None] + 2.3) * slopes
    np.testing.assert_allclose(moved[5, inside], expected, atol=float(slopes.max()) / 64 + 1e-4)
    alone = np.concatenate([warp(ramps[..., i : i + 3], offsets) for i in range(0, count, 3)], axis=2)
    np.testing.assert_allclose(moved, alone, atol=float(slopes.max()) / 64 + 1e-4)


def test_flow_steadies_the_color_without_draining_it() -> None:
    """On a real clip: much lower CDC than each frame on its own, the colourfulness kept (measured on 100
    frames: -62 % CDC, -4 % colourfulness; here 24 frames, looser bounds)."""
    colorizer = Colorizer.load("default")
    clip = [frame for _, frame in zip(range(24), frames(shared_clip("street")), strict=False)]
    results = {}
    for temporal in ("none", "flow"):
        painter, scores = FramePainter(colorizer, temporal=temporal), TemporalScores()
        painted = [painter(rgb) for rgb in clip]
        for rgb in painted:
            scores.add(rgb, None)
        results[temporal] = (scores.summary()["cdc"], np.mean([colorfulness(rgb) for rgb in painted]))
    (cdc_none, color_none), (cdc_flow, color_flow) = results["none"], results["flow"]
    assert cdc_flow < 0.7 * cdc_none, results
    assert color_flow > 0.9 * color_none, results


def test_the_stabiliser_gives_the_same_colours_on_onnxruntime_as_on_torch() -> None:
    """The bundled graph gives the logits, the stabiliser blends them and numpy decodes them: on a real clip,
    every frame within 2 code values of the torch engine's on 99.9 % of its pixels (the two runtimes round
    the network's floats differently; a near tie between two bins may flip a few pixels)."""
    pytest.importorskip("onnxruntime")
    from chromalab.colorize.onnx_backend import OnnxColorizer

    clip = [frame for _, frame in zip(range(8), frames(shared_clip("street")), strict=False)]
    painters = [
        FramePainter(engine.load("default"), network_every=2) for engine in (Colorizer, OnnxColorizer)
    ]
    for rgb in clip:
        on_torch, on_onnx = (np.asarray(painter(rgb), dtype=int) for painter in painters)
        assert (np.abs(on_torch - on_onnx) > 2).mean() <= 1e-3


def test_the_network_sees_every_nth_frame_and_every_scene_cut() -> None:
    colorizer = Colorizer.load("fast-v1")
    street = [frame for _, frame in zip(range(7), frames(shared_clip("street")), strict=False)]
    size = street[0].shape[1::-1]
    tree = [
        np.asarray(Image.fromarray(frame).resize(size))
        for _, frame in zip(range(3), frames(shared_clip("tree")), strict=False)
    ]
    seen: list[int] = []
    network = colorizer.network_output

    def spying_network(view):  # a spy on the real network: records which frame reached it
        seen.append(index)
        return network(view)

    colorizer.network_output = spying_network
    painter = FramePainter(colorizer, temporal="flow", network_every=3)
    painted = []
    for index, rgb in enumerate(street + tree):  # noqa: B007 (the spy reads index)
        painted.append(painter(rgb))
    assert seen == [0, 3, 6, 7]  # every third frame, and the first frame of the new scene at once
    carried = painted[1]  # not seen by the network: the first frame's colour moved along the flow
    assert colorfulness(carried) > 0.8 * colorfulness(painted[0])
    plain = FramePainter(colorizer, temporal="none", network_every=3)
    seen.clear()
    for index, rgb in enumerate(street[:3]):  # noqa: B007 (the spy reads index)
        plain(rgb)
    assert seen == [0, 1, 2]  # without flow there is nothing to carry: the network sees every frame


def test_evaluate_scores_a_clip_with_its_temporal_numbers(tmp_path: Path) -> None:
    clip = tmp_path / "tree.mp4"
    write_cut(shared_clip("tree"), clip, 6)
    done = run("evaluate", clip, "--frames", "5", "--json", tmp_path / "scores.json")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "scores.json").read_text())
    assert summary["images"] == 5 and summary["clips"][0]["frames"] == 5
    for part in ("metrics", "ground_truth"):
        assert summary[part]["cdc"] >= 0 and summary[part]["warping_error"] >= 0
    assert {"psnr", "ssim", "auc", "colorfulness"} <= set(summary["metrics"])


def test_evaluate_on_a_folder_reports_a_broken_clip_and_scores_the_others(tmp_path: Path) -> None:
    """A folder of a good clip, a clip cut off half-way and a file that is no video: one line for each bad
    one, exit 1, and the good clip scored as it is alone (none of the broken clip's frames counted)."""
    folder = tmp_path / "clips"
    folder.mkdir()
    write_cut(shared_clip("tree"), folder / "a-good.mp4", 6)
    write_cut(shared_clip("tree"), tmp_path / "whole.mp4", 30)
    data = (tmp_path / "whole.mp4").read_bytes()
    (folder / "b-cut.mp4").write_bytes(data[: len(data) // 2])
    (folder / "c-not.mp4").write_bytes(b"not a video at all")
    done = run("evaluate", folder, "--frames", "5", "--json", tmp_path / "folder.json")
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split(":")[1].strip() for line in lines] == [
        str(folder / "b-cut.mp4"),
        str(folder / "c-not.mp4"),
    ]
    assert "Traceback" not in done.stderr
    alone = run("evaluate", folder / "a-good.mp4", "--frames", "5", "--json", tmp_path / "alone.json")
    assert alone.returncode == 0, alone.stderr
    scored, expected = (json.loads((tmp_path / name).read_text()) for name in ("folder.json", "alone.json"))
    assert scored["images"] == 5 and [clip["name"] for clip in scored["clips"]] == ["a-good.mp4"]
    # the same engine and threads on the same frames; the tolerance only allows for float summation order
    assert scored["metrics"]["psnr"] == pytest.approx(expected["metrics"]["psnr"], abs=1e-6)


def test_audio_that_mp4_cannot_hold_is_re_encoded(tmp_path: Path) -> None:
    """An AVI with PCM sound: the output carries it as AAC, as long as the input's."""
    from chromalab.video.clips import transcode

    source = tmp_path / "pcm.avi"
    with av.open(str(source), "w") as output:
        video = output.add_stream("mpeg4", rate=Fraction(10))
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = output.add_stream("pcm_s16le", rate=8000)
        sound.layout = "mono"
        for i in range(10):
            for packet in video.encode(
                av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            ):
                output.mux(packet)
        for packet in video.encode():
            output.mux(packet)
        write_tone(
            output,
            sound,
            (np.sin(np.arange(8000) / 8000 * 2 * np.pi * 300) * 20000).astype(np.int16),
            "s16",
            chunk=800,
        )
    assert transcode(source, tmp_path / "out.mp4", lambda rgb: rgb) == 10
    with av.open(str(tmp_path / "out.mp4")) as output:
        assert [s.codec_context.name for s in output.streams] == ["h264", "aac"]
        samples = sum(frame.samples for frame in output.decode(audio=0))
    assert 8000 <= samples < 8000 + 2 * 1024  # the second of sound, AAC's priming and last frame aside
