"""A clip coloured from its keyframes or from one reference (``video.keyframes``), on short cuts of the shared
real clips and the bundled default: a keyframe fixes its frame and the frames around take its colours; the
command line's keyframe folders that do not fit their clip are one line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from conftest import shared_clip, write_cut
from PIL import Image

from chromalab.colorize.loading import load_colorizer
from chromalab.evaluation.metrics import psnr
from chromalab.video.colorize_clip import FramePainter
from chromalab.video.keyframes import ClipReferences, KeyframeError


@pytest.fixture(scope="module")
def onnx_default() -> object:
    return load_colorizer("default", engine="onnx", threads=1)


@pytest.fixture(scope="module")
def tree() -> list[np.ndarray]:
    from chromalab.video.clips import frames

    return [frame for _, frame in zip(range(12), frames(shared_clip("tree")), strict=False)]


def _paint(colorizer: object, clip: list[np.ndarray], references: ClipReferences | None) -> list[np.ndarray]:
    painter = FramePainter(colorizer, references=references)
    return [painter(rgb) for rgb in clip]  # it reads each frame's lightness alone


def test_keyframes_fix_their_frames_and_colour_the_frames_around(onnx_default, tree) -> None:
    automatic = _paint(onnx_default, tree, None)
    keyed = _paint(onnx_default, tree, ClipReferences({0: tree[0], 8: tree[8]}))
    for index in (0, 8):  # the keyframe's colours at the network's 1/4 grid: 32-33 dB on the shared clips
        assert psnr(keyed[index], tree[index]) > 30.0 > psnr(automatic[index], tree[index]) + 5.0
    between = [index for index in range(12) if index not in (0, 8)]
    gain = np.mean([psnr(keyed[i], tree[i]) - psnr(automatic[i], tree[i]) for i in between])
    assert gain > 2.0  # the frames without a keyframe take the keyframes' colours too


def test_one_reference_for_every_frame(onnx_default, tree) -> None:
    from chromalab.colorize.reference import Reference

    automatic = _paint(onnx_default, tree[:4], None)
    guided = _paint(onnx_default, tree[:4], ClipReferences(reference=Reference(tree[0][:, ::-1].copy())))
    gains = [psnr(g, t) - psnr(a, t) for g, a, t in zip(guided, automatic, tree[:4], strict=True)]
    assert min(gains) > 1.0


def test_each_frame_is_matched_against_the_keyframes_on_either_side(tree) -> None:
    references = ClipReferences({3: tree[3], 9: tree[9]})
    assert len(references.reference_for(0).labs) == 1  # before the first: the first alone
    assert len(references.reference_for(5).labs) == 2  # between two: both
    assert len(references.reference_for(9).labs) == 1 and len(references.reference_for(11).labs) == 1
    assert references.keyframe_ab(3).shape == (2, *tree[3].shape[:2]) and references.keyframe_ab(4) is None


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"frame1.png": (320, 240)}, "frame1.png: a keyframe is named by its frame index"),
        ({"000050.png": (320, 240)}, "000050.png: frame 50 is beyond the clip's 12 frames"),
        ({"000003.png": (160, 120)}, "000003.png: 160x120, but the clip's frames are 320x240"),
    ],
)
def test_keyframe_folders_that_do_not_fit_the_clip(tree, tmp_path: Path, files: dict, message: str) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    for name, size in files.items():
        Image.fromarray(tree[0]).resize(size).save(folder / name)
    with pytest.raises(KeyframeError, match=message):
        ClipReferences.from_folder(folder, frame_count=12, frame_size=(320, 240))


def test_cli_keyframes(cli, tree, tmp_path: Path) -> None:
    cut = write_cut(shared_clip("tree"), tmp_path / "tree.mp4", 12)
    (tmp_path / "keys").mkdir()
    Image.fromarray(cut[0]).save(tmp_path / "keys" / "000000.png")
    Image.fromarray(cut[6]).save(tmp_path / "keys" / "6.png")  # leading zeros are optional
    code, _, err = cli("colorize", "tree.mp4", "--keyframes", "keys", "-o", "out", cwd=tmp_path)
    assert code == 0, err
    with av.open(str(tmp_path / "out" / "tree.mp4")) as output:
        painted = [frame.to_ndarray(format="rgb24") for frame in output.decode(video=0)]
    assert len(painted) == 12
    assert psnr(painted[6], cut[6]) > 30.0  # H.264 at the default quality, the keyframe's own colours


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--keyframes", "missing"], "--keyframes missing: no such folder"),
        (["--keyframes", "keys", "old.png"], "--keyframes colours one clip per call; got 2 inputs"),
        (["--keyframes", "bad"], "frame1.png: a keyframe is named by its frame index"),
        (["--keyframes", "keys", "--reference", "keys/000000.png"], "--keyframes or --reference"),
        (["--keyframes", "keys", "--model", "fast-v1"], "--keyframes with --model fast-v1"),
        (["--keyframes", "empty"], "--keyframes empty: no keyframe images"),  # the folder named once
    ],
)
def test_cli_bad_keyframes_write_nothing(cli, tree, tmp_path: Path, extra: list[str], message: str) -> None:
    write_cut(shared_clip("tree"), tmp_path / "tree.mp4", 12)
    Image.fromarray(tree[0]).convert("L").save(tmp_path / "old.png")
    for folder, name in (("keys", "000000.png"), ("bad", "frame1.png")):
        (tmp_path / folder).mkdir()
        Image.fromarray(tree[0]).save(tmp_path / folder / name)
    (tmp_path / "empty").mkdir()
    code, _, err = cli("colorize", "tree.mp4", *extra, "-o", "out", cwd=tmp_path)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_cli_keyframes_are_checked_against_the_frames_a_clip_has(cli, tree, tmp_path: Path) -> None:
    """tree.avi's header says 444 frames; it has 68. A keyframe for frame 100 is refused, counted from the
    clip itself; a photo given --keyframes is told so."""
    (tmp_path / "keys").mkdir()
    Image.fromarray(tree[0]).save(tmp_path / "keys" / "000100.png")
    code, _, err = cli("colorize", shared_clip("tree"), "--keyframes", "keys", "-o", "out", cwd=tmp_path)
    assert (
        code == 2
        and err.strip() == "error: --keyframes keys/000100.png: frame 100 is beyond the clip's 68 frames"
    )
    Image.fromarray(tree[0]).convert("L").save(tmp_path / "old.png")
    code, _, err = cli("colorize", "old.png", "--keyframes", "keys", "-o", "out", cwd=tmp_path)
    assert code == 2 and "old.png is not a video (a photo takes --reference)" in err, err
    assert not (tmp_path / "out").exists()
