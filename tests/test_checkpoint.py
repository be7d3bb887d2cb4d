"""Self-describing model files: round trip, atomic writes, refusing files that are not ours."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from chromalab.color.bin_sets import make_bins
from chromalab.files import atomic_write
from chromalab.models.checkpoint import ModelSpec, load_model, read_metadata, save_model


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("kind", ["joint", "channels", "regression"])
def test_round_trip(tmp_path: Path, kind: str) -> None:
    torch.manual_seed(0)
    centres = tmp_path / "centres.npy"
    np.save(centres, np.stack(np.meshgrid(np.arange(-50, 51, 10), np.arange(-50, 51, 10)), -1).reshape(-1, 2))
    bin_spec = {"joint": f"file:{centres}", "channels": "channels:8", "regression": None}[kind]
    bins = make_bins(bin_spec) if bin_spec else None
    spec = ModelSpec("tiny", {"channels": 4}, bin_spec, {"steps": 12, "data": {"photos": 3}, "loss": "ce"})
    model = spec.build(bins.num_classes if bins else None)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))  # not the initialisation a rebuild would reproduce
    prior = torch.rand(bins.num_classes) if bins else None
    path = tmp_path / "m.safetensors"
    save_model(path, model, spec, bins=bins, prior=prior, extra={"ema.step": torch.tensor([7])})
    centres.unlink()  # the model file must carry its bins itself

    loaded = load_model(path)
    assert loaded.spec == spec
    assert_same_weights(loaded.model, model)
    assert not loaded.model.training
    if bins is None:
        assert loaded.bins is None and loaded.prior is None
    else:
        assert type(loaded.bins) is type(bins) and loaded.bins.spec == bins.spec
        assert loaded.bins.num_classes == bins.num_classes
        assert torch.equal(loaded.bins.centres, bins.centres)
        assert torch.equal(loaded.prior, prior)
    assert torch.equal(loaded.tensors["ema.step"], torch.tensor([7]))
    meta = read_metadata(path)
    assert meta["model"] == "tiny" and meta["options"] == {"channels": 4} and meta["bins"] == bin_spec
    # the loaded network computes what the saved one did
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model.eval()(x))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    spec = ModelSpec("tiny", {}, None)
    path = tmp_path / "sub" / "m.safetensors"
    save_model(path, spec.build(None), spec)
    save_model(path, spec.build(None), spec)  # overwrite in place
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["m.safetensors", "sub"]


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old contents")

    def half_write(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, half_write)
    assert path.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="not a chromalab model file"):
        load_model(path)


@pytest.mark.parametrize("contents", [b"", b"hello, I am text\n" * 10, b"\x80\x04\x95pickle"])
def test_non_safetensors_files_are_refused(tmp_path: Path, contents: bytes) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(contents)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_model(path)


def test_other_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.safetensors"
    save_file(
        {"x": torch.zeros(1)}, str(path), metadata={"chromalab": json.dumps({"format": "chromalab-model/9"})}
    )
    with pytest.raises(ValueError, match="unsupported model format 'chromalab-model/9'"):
        load_model(path)


def rewrite(path: Path, tensors: dict[str, torch.Tensor], **meta_changes: object) -> None:
    meta = read_metadata(path) | meta_changes
    save_file(tensors, str(path), metadata={"chromalab": json.dumps(meta)})


def test_missing_weights_are_refused(tmp_path: Path) -> None:
    spec = ModelSpec("tiny", {"channels": 4}, None)
    path = tmp_path / "m.safetensors"
    save_model(path, spec.build(None), spec)
    tensors = load_file(str(path))
    del tensors["model.head.proj.bias"]
    rewrite(path, tensors)
    with pytest.raises(ValueError, match="weights do not fit model 'tiny'"):
        load_model(path)


def test_weights_of_other_sizes_are_a_value_error(tmp_path: Path) -> None:
    spec = ModelSpec("tiny", {"channels": 4}, None)
    path = tmp_path / "m.safetensors"
    save_model(path, spec.build(None), spec)
    rewrite(path, load_file(str(path)), options={"channels": 8})  # the description lies about the width
    with pytest.raises(ValueError, match="weights do not fit"):
        load_model(path)


def test_description_without_model_name_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_file(
        {"x": torch.zeros(1)}, str(path), metadata={"chromalab": json.dumps({"format": "chromalab-model/1"})}
    )
    with pytest.raises(ValueError):
        load_model(path)


def test_atomic_write_gives_files_the_usual_permissions(tmp_path: Path) -> None:
    import os

    from chromalab.files import atomic_write

    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "out.txt", lambda tmp: tmp.write_text("x"))
    finally:
        os.umask(mask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644


def test_only_our_stale_temp_files_are_swept(tmp_path: Path) -> None:
    import os
    import time

    from chromalab.files import atomic_write, sweep_stale_temps

    def failing(tmp: Path) -> None:
        tmp.write_text("half")
        leftover.append(tmp)
        raise KeyboardInterrupt  # caught below: atomic_write removes its temp file and re-raises

    leftover: list[Path] = []
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "photo.png", failing)
    assert leftover and not leftover[0].exists()  # an interrupted writer leaves nothing
    ours_old, ours_fresh = tmp_path / ".photo.png.ab12cd34.tmp", tmp_path / ".clip.mp4.zz_99xyz.tmp"
    kept = [
        ours_fresh,
        tmp_path / ".notes.tmp",
        tmp_path / "photo.png.ab12cd34.tmp",
        tmp_path / ".x.ab12cd34.txt",
    ]
    for path in (ours_old, *kept):
        path.write_text("x")
    (tmp_path / ".dir.ab12cd34.tmp").mkdir()
    now = time.time()
    os.utime(ours_old, (now - 3600, now - 3600))  # last written before the sweeping process started
    assert sweep_stale_temps(tmp_path, before=now - 60) == [ours_old]
    assert all(path.exists() for path in kept) and (tmp_path / ".dir.ab12cd34.tmp").is_dir()
    assert sweep_stale_temps(tmp_path / "missing") == []


def test_a_temp_file_being_written_is_never_swept_however_old(tmp_path: Path) -> None:
    """Another process writing a video seldom touches its temporary file: while atomic_write holds it, its
    lock keeps a sweep (``before`` any time at all) from removing it; once written, the output is whole."""
    import os
    import subprocess
    import sys

    from chromalab.files import sweep_stale_temps

    writer = subprocess.Popen(  # a writer in its own process, as a second colorize run would meet it
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from chromalab.files import atomic_write\n"
            "def slow(tmp):\n"
            "    tmp.write_bytes(b'first half ')\n"
            "    print('writing', flush=True); sys.stdin.readline()\n"
            "    with open(tmp, 'ab') as f: f.write(b'second half')\n"
            f"atomic_write(Path({str(tmp_path / 'clip.mp4')!r}), slow)",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline() == "writing\n"
        [tmp] = tmp_path.glob(".clip.mp4.*.tmp")
        os.utime(tmp, (0, 0))  # as old as can be
        assert sweep_stale_temps(tmp_path, before=1e12) == [] and tmp.exists()
        writer.communicate("go\n", timeout=30)
    finally:
        writer.kill()
    assert writer.returncode == 0
    assert (tmp_path / "clip.mp4").read_bytes() == b"first half second half"
    assert list(tmp_path.glob(".*.tmp")) == []
