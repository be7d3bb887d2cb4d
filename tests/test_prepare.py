"""``chromalab prepare``: sources (folders, .npy, tar), drops, cache contents vs rgb_to_lab, split, prior,
errors.

Tiny real photos (the session ``photos`` fixture) cut into 40x40 pieces and prepared at 32x32, in this
process (``workers=0``) except for one test of the worker pool and the Lab table.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from chromalab.color.bin_sets import ab_histogram, make_bins
from chromalab.color.codes import decode_l
from chromalab.color.lab import rgb_to_lab
from chromalab.data import prepare as prep
from chromalab.data.cache import CACHE_FORMAT, Cache, prior_for
from chromalab.data.prepare import PrepareError, prepare

SIZE = 32
TRAIN128 = Path(__file__).resolve().parents[2] / "shared" / "data" / "train128"


def pieces(rgb: np.ndarray, side: int = 40) -> list[np.ndarray]:
    """Two corner crops of ``side`` pixels."""
    h, w, _ = rgb.shape
    return [rgb[:side, :side], rgb[h - side :, w - side :]]


def make_folder(root: Path, photos: dict[str, np.ndarray]) -> Path:
    """3 classes x 2 colour pieces (PNG and JPEG), a root photo, and one each of grey, corrupt, small,
    text."""
    for name in ("astronaut", "coffee", "chelsea"):
        (root / name).mkdir(parents=True)
        for i, piece in enumerate(pieces(photos[name])):
            Image.fromarray(piece).save(root / name / f"{i}.{'png' if i == 0 else 'jpg'}", quality=95)
    Image.fromarray(pieces(photos["china"])[0]).save(root / "top.png")
    Image.fromarray(pieces(photos["flower"])[0]).convert("L").save(root / "astronaut" / "grey.png")
    (root / "coffee" / "broken.jpg").write_bytes(b"this is not a JPEG")
    Image.fromarray(photos["flower"][:20, :20]).save(root / "chelsea" / "small.png")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def folder(tmp_path: Path, photos: dict[str, np.ndarray]) -> Path:
    return make_folder(tmp_path / "photos", photos)


def run(sources: list, out: Path, **options: object) -> prep.PrepareReport:
    return prepare(sources, out, size=SIZE, workers=0, **options)


def manifest(cache: Path) -> dict:
    return json.loads((cache / "manifest.json").read_text())


def test_folder_counts_classes_and_drop_reasons(folder: Path, tmp_path: Path) -> None:
    report = run([folder], tmp_path / "cache", val_fraction=0.0)
    assert (report.candidates, report.kept, report.drops) == (
        10,
        {"train": 7, "val": 0},
        {"corrupt": 1, "too-small": 1, "grey": 1, "near-duplicate": 0},
    )
    m = manifest(tmp_path / "cache")
    dropped = {Path(d["path"]).name: d["reason"] for d in m["dropped"]}
    assert dropped == {"grey.png": "grey", "broken.jpg": "corrupt", "small.png": "too-small"}
    kept_classes = {Path(k["path"]).name if k["class"] == "photos" else k["class"] for k in m["kept"]}
    # a root photo gets the folder's name
    assert kept_classes == {
        "astronaut",
        "coffee",
        "chelsea",
        "top.png",
    }
    assert [k["row"] for k in m["kept"]] == list(range(7))
    cache = Cache(tmp_path / "cache")
    assert cache.l.shape == (7, SIZE, SIZE) and cache.ab.shape == (7, 2, SIZE, SIZE)
    assert (cache.l.dtype, cache.ab.dtype, cache.labels.dtype) == (np.uint8, np.int8, np.int16)
    assert cache.class_names == ["astronaut", "chelsea", "coffee", "photos"]
    assert [cache.class_names[i] for i in cache.labels] == [k["class"] for k in m["kept"]]


def test_cache_matches_rgb_to_lab_within_quantisation(folder: Path, tmp_path: Path) -> None:
    run([folder], tmp_path / "cache")
    cache = Cache(tmp_path / "cache")
    for entry in manifest(tmp_path / "cache")["kept"]:
        image = Image.open(entry["path"]).convert("RGB").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
        rgb = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255
        lab = rgb_to_lab(rgb).numpy()
        row = entry["row"]
        assert np.abs(decode_l(cache.l[row]) - lab[0]).max() <= 0.5
        assert np.abs(cache.ab[row] - lab[1:]).max() <= 0.6
        assert entry["chroma"] == pytest.approx(np.hypot(*cache.ab[row].astype(np.float32)).mean(), abs=0.01)


def test_split_is_seeded_per_class_or_from_val_sources(folder: Path, tmp_path: Path, photos: dict) -> None:
    run([folder], tmp_path / "a", val_fraction=0.5, seed=3)
    run([folder], tmp_path / "b", val_fraction=0.5, seed=3)
    assert Cache(tmp_path / "a").val_indices.tolist() == Cache(tmp_path / "b").val_indices.tolist()
    m = manifest(tmp_path / "a")
    entries = m["kept"] + m["dropped"]
    for name, candidates in (("astronaut", 3), ("coffee", 3), ("chelsea", 3), ("photos", 1)):
        val = [e for e in entries if e["class"] == name and e["split"] == "val"]
        assert len(val) == round(candidates * 0.5)  # drawn per class among the candidates
    val = make_folder(tmp_path / "val", photos)
    report = run([folder], tmp_path / "c", val_sources=[val])
    assert report.kept == {"train": 7, "val": 7}
    cache = Cache(tmp_path / "c")
    assert (cache.split[:7] == 0).all() and (cache.split[7:] == 1).all()
    assert cache.val_indices.tolist() == list(range(7, 14))
    with pytest.raises(ValueError, match="not both"):
        run([folder], tmp_path / "d", val_sources=[val], val_fraction=0.1)


def test_rerun_is_a_no_op_until_sources_or_options_change(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    assert not run([folder], out).up_to_date
    stamp = (out / "cache.json").stat().st_mtime_ns
    again = run([folder], out)
    assert again.up_to_date and again.kept == run([folder], out).kept
    assert (out / "cache.json").stat().st_mtime_ns == stamp
    assert not run([folder], out, min_chroma=1.0).up_to_date  # an option changed
    shutil.copy(folder / "top.png", folder / "coffee" / "more.png")
    report = run([folder], out, min_chroma=1.0)
    assert not report.up_to_date and report.candidates == 11
    assert not any(p.name.startswith(".cache.") for p in tmp_path.iterdir())  # no temporary folders left


def test_pad_letterboxes_with_mid_grey_and_stretch_fills(tmp_path: Path, photos: dict) -> None:
    src = tmp_path / "wide" / "c"
    src.mkdir(parents=True)
    Image.fromarray(photos["astronaut"][:24, :64]).save(src / "wide.png")  # 64 x 24 -> 32 x 12 in the middle
    run([src.parent], tmp_path / "pad", resize="pad", val_fraction=0)
    padded = Cache(tmp_path / "pad")
    lightness, ab = decode_l(padded.l[0]), padded.ab[0]  # the photo covers rows 10..22
    assert np.allclose(lightness[:10], 50.0, atol=0.2) and np.allclose(lightness[22:], 50.0, atol=0.2)
    assert (ab[:, :10] == 0).all() and (ab[:, 22:] == 0).all()
    assert lightness[10:22].std() > 1
    for mode in ("crop", "stretch"):  # both need the short side >= 32
        with pytest.raises(PrepareError, match="1 too-small"):
            run([src.parent], tmp_path / mode, resize=mode)
    Image.fromarray(photos["astronaut"][:40, :64]).save(src / "wide.png")  # 64 x 40
    run([src.parent], tmp_path / "stretch", resize="stretch", val_fraction=0)
    whole = Image.open(src / "wide.png").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    rgb = torch.from_numpy(np.array(whole)).permute(2, 0, 1).float() / 255
    assert np.abs(decode_l(Cache(tmp_path / "stretch").l[0]) - rgb_to_lab(rgb)[0].numpy()).max() <= 0.5


def write_lab_arrays(photos: dict, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """8-bit Lab in the Kaggle / OpenCV convention: L * 2.55, a + 128, b + 128; (N, 40, 40) and (N, 40, 40,
    " "2)."""
    rgb = np.stack([p for n in names for p in pieces(photos[n])])
    lab = rgb_to_lab(torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255).numpy()
    l_codes = np.clip(np.rint(lab[:, 0] * 2.55), 0, 255).astype(np.uint8)
    ab_codes = np.clip(np.rint(lab[:, 1:] + 128), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return l_codes, ab_codes


def test_npy_pair_and_kaggle_layout(tmp_path: Path, photos: dict) -> None:
    l_codes, ab_codes = write_lab_arrays(photos, ("astronaut", "coffee", "chelsea"))
    np.save(tmp_path / "L.npy", l_codes)
    np.save(tmp_path / "ab.npy", ab_codes)
    report = prepare(
        [f"{tmp_path / 'L.npy'}:{tmp_path / 'ab.npy'}"], tmp_path / "pair", size=40, workers=0, val_fraction=0
    )
    assert report.kept["train"] == 6
    cache = Cache(tmp_path / "pair")
    assert (cache.l[:] == l_codes).all() and (
        cache.ab[:] == ab_codes.transpose(0, 3, 1, 2).astype(np.int16) - 128
    ).all()
    kaggle = tmp_path / "kaggle"
    (kaggle / "l").mkdir(parents=True)
    (kaggle / "ab" / "ab").mkdir(parents=True)
    np.save(kaggle / "l" / "gray_scale.npy", l_codes)
    for i, rows in ((1, slice(0, 4)), (2, slice(4, 6))):  # ab1 then ab2, in numeric order
        np.save(kaggle / "ab" / "ab" / f"ab{i}.npy", ab_codes[rows])
    report = prepare([kaggle], tmp_path / "k", size=SIZE, workers=0, val_fraction=0)
    assert report.kept["train"] == 6 and Cache(tmp_path / "k").class_names == ["kaggle"]
    resized = Cache(tmp_path / "k")
    assert np.abs(decode_l(resized.l[5]).mean() - decode_l(l_codes[5]).mean()) < 1.0


def test_npy_mismatched_shapes_are_a_clear_error(tmp_path: Path, photos: dict) -> None:
    l_codes, ab_codes = write_lab_arrays(photos, ("astronaut",))
    np.save(tmp_path / "L.npy", l_codes)
    np.save(tmp_path / "ab.npy", ab_codes[:, :30])
    with pytest.raises(PrepareError, match=r"ab must be uint8 \(N, 40, 40, 2\)"):
        run([f"{tmp_path / 'L.npy'}:{tmp_path / 'ab.npy'}"], tmp_path / "c")
    np.save(tmp_path / "ab.npy", ab_codes[:1])
    with pytest.raises(PrepareError, match="2 L images but 1 ab images"):
        run([f"{tmp_path / 'L.npy'}:{tmp_path / 'ab.npy'}"], tmp_path / "c")


def test_tar_shard_members_and_cls_labels(tmp_path: Path, folder: Path) -> None:
    shard = tmp_path / "shard-000.tar"
    with tarfile.open(shard, "w") as tar:
        for i, path in enumerate(sorted(folder.rglob("*.*"))):
            tar.add(path, arcname=f"{i:03d}{path.suffix}")
        label = b"labelled"
        info = tarfile.TarInfo("000.cls")
        info.size = len(label)
        tar.addfile(info, io.BytesIO(label))
    report = run([shard], tmp_path / "cache", val_fraction=0)
    assert report.kept["train"] == 7 and report.drops == {
        "corrupt": 1,
        "too-small": 1,
        "grey": 1,
        "near-duplicate": 0,
    }
    assert set(Cache(tmp_path / "cache").class_names) == {"shard-000", "labelled"}
    assert all("shard-000.tar/" in k["path"] for k in manifest(tmp_path / "cache")["kept"])


def test_pipes_dead_links_and_cut_off_shards_never_stop_a_prepare(tmp_path: Path, folder: Path) -> None:
    """A pipe (which would block its reader for good) and a link to nothing among the photos are passed by;
    a tar shard cut off half-way is one clear error, not a traceback."""
    import shutil

    source = tmp_path / "source"
    shutil.copytree(folder, source)
    os.mkfifo(source / "pipe.png")
    (source / "dangling.jpg").symlink_to(tmp_path / "nothing-here.jpg")
    assert (
        run([source], tmp_path / "c1", val_fraction=0).kept
        == run([folder], tmp_path / "c2", val_fraction=0).kept
    )
    shard = tmp_path / "whole.tar"
    with tarfile.open(shard, "w") as tar:
        for i, path in enumerate(sorted(folder.rglob("*.*"))):
            tar.add(path, arcname=f"{i:03d}{path.suffix}")
    cut = tmp_path / "cut.tar"
    cut.write_bytes(shard.read_bytes()[:3000])
    with pytest.raises(PrepareError, match="unreadable tar shard"):
        run([cut], tmp_path / "c3")


def test_bad_inputs_are_clear_errors(tmp_path: Path, folder: Path, photos: dict) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrepareError, match="no images found"):
        run([tmp_path / "empty"], tmp_path / "c1")
    grey = tmp_path / "grey"
    grey.mkdir()
    Image.fromarray(pieces(photos["coffee"])[0]).convert("L").convert("RGB").save(grey / "g.png")
    with pytest.raises(PrepareError, match="no usable photos; dropped: 1 grey"):
        run([grey], tmp_path / "c2")
    assert not (tmp_path / "c2").exists()
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        run([tmp_path / "missing"], tmp_path / "c3")
    with pytest.raises(FileExistsError, match="not a chromalab cache"):
        run([folder], folder)  # a photo folder is never overwritten
    (tmp_path / "file").write_text("x")
    with pytest.raises(PrepareError, match="cannot write"):
        run([folder], tmp_path / "file" / "cache")
    with pytest.raises(ValueError, match="resize"):
        run([folder], tmp_path / "c4", resize="zoom")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_output_folder(tmp_path: Path, folder: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(PrepareError, match="cannot write"):
        run([folder], locked / "cache")


def test_cache_rejects_other_versions_and_damage(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    run([folder], out)
    info = json.loads((out / "cache.json").read_text())
    (out / "cache.json").write_text(json.dumps({**info, "format": "chromalab-cache/0"}))
    with pytest.raises(ValueError, match=r"'chromalab-cache/0'.*" + CACHE_FORMAT):
        Cache(out)
    assert not run([folder], out).up_to_date  # an old cache is rebuilt in place
    np.save(out / "labels.npy", np.zeros(2, np.int16))
    with pytest.raises(ValueError, match="labels.npy"):
        Cache(out)
    with pytest.raises(ValueError, match="not a chromalab cache"):
        Cache(folder)


def test_histogram_and_priors_equal_brute_force_over_train_pixels(folder: Path, tmp_path: Path) -> None:
    run([folder], tmp_path / "cache", val_fraction=0.5)
    cache = Cache(tmp_path / "cache")
    ab = torch.from_numpy(cache.ab[cache.train_indices].astype(np.float32))  # (N, 2, S, S)
    assert (cache.histogram == ab_histogram(ab, grid=10).numpy()).all()
    for spec in ("gamut:10", "channels:12", "data:10"):
        bins = make_bins(spec, histogram=cache.histogram)
        nearest = bins.nearest(ab)  # joint (N, S, S); channels (N, 2, S, S)
        groups = [nearest] if bins.groups == 1 else [nearest[:, 0], nearest[:, 1]]
        expected = torch.cat(
            [torch.bincount(g.reshape(-1), minlength=bins.num_classes // bins.groups) for g in groups]
        )
        expected = expected.double().view(bins.groups, -1)
        expected = (expected / expected.sum(1, keepdim=True)).view(-1)
        prior = prior_for(cache, bins)
        assert prior.shape == (bins.num_classes,) and prior.dtype == torch.float32
        assert torch.allclose(prior.double(), expected, atol=1e-6)
        assert (tmp_path / "cache" / f"prior-{spec.replace(':', '_')}.npy").is_file()
    assert torch.allclose(cache.prior, prior_for(cache, make_bins("gamut:10")))


def test_histogram_and_data_bins_of_any_grid_from_the_count_table(folder: Path, tmp_path: Path) -> None:
    run([folder], tmp_path / "cache", val_fraction=0.5)
    cache = Cache(tmp_path / "cache")
    ab = torch.from_numpy(cache.ab[cache.train_indices].astype(np.float32))  # (N, 2, S, S)
    for grid in (10, 16, 7):
        histogram = cache.histogram_for(grid)
        assert histogram.dtype == np.int64 and (histogram == ab_histogram(ab, grid=grid).numpy()).all()
    bins = cache.bins("data:16")
    assert bins.spec == "data:16" and bins.num_classes == int((cache.histogram_for(16) > 0).sum())
    expected = torch.bincount(bins.nearest(ab).reshape(-1), minlength=bins.num_classes).double()
    assert torch.allclose(prior_for(cache, bins).double(), expected / expected.sum(), atol=1e-6)
    assert torch.equal(cache.bins("data:10").centres, make_bins("data:10", histogram=cache.histogram).centres)
    assert cache.bins("gamut:10").num_classes == make_bins("gamut:10").num_classes
    with pytest.raises(ValueError, match="at least 2"):
        cache.bins("data:1")


def test_lab_table_equals_rgb_to_lab(tmp_path: Path, photos: dict) -> None:
    table = tmp_path / "lut.npy"
    np.lib.format.open_memmap(table, mode="w+", dtype=np.uint32, shape=(1 << 24,))
    # (5, 64, 8, 3)
    rgb = np.concatenate([p.reshape(1, -1, 8, 3)[:, :64] for p in photos.values()]).astype(np.uint8)
    rgb[..., 0] = np.where(rgb[..., 0] < 128, 0, 255)  # two slices of the table suffice: red 0 and 255
    for red in (0, 255):
        prep._fill_lab_table((str(table), red << 16, (red + 1) << 16))
    l_table, ab_table = prep._rgb_to_codes(rgb, str(table))
    prep._OPEN.clear()
    l_direct, ab_direct = prep._rgb_to_codes(rgb, None)
    assert np.abs(l_table.astype(int) - l_direct).max() <= 1 and (l_table == l_direct).mean() > 0.99
    assert np.abs(ab_table.astype(int) - ab_direct).max() <= 1 and (ab_table == ab_direct).mean() > 0.99


def test_worker_pool_with_lab_table_matches_in_process(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slow path of the suite (~5 s): forkserver workers and the full 2^24-colour table."""
    run([folder], tmp_path / "serial")
    monkeypatch.setattr(prep, "LUT_MIN_PIXELS", 0)
    prepare([folder], tmp_path / "pool", size=SIZE, workers=2)
    serial, pool = Cache(tmp_path / "serial"), Cache(tmp_path / "pool")
    assert (serial.labels == pool.labels).all() and (serial.split == pool.split).all()
    assert np.abs(serial.l[:].astype(int) - pool.l[:]).max() <= 1
    assert np.abs(serial.ab[:].astype(int) - pool.ab[:]).max() <= 1
    assert not (tmp_path / "pool" / prep.LUT_FILE).exists()


@pytest.mark.skipif(not TRAIN128.is_dir(), reason="../shared/data/train128 missing")
def test_real_training_photos(tmp_path: Path) -> None:
    src = tmp_path / "real"
    for folder in sorted(TRAIN128.iterdir())[:3]:
        (src / folder.name).mkdir(parents=True)
        for photo in sorted(folder.iterdir())[:3]:
            shutil.copy(photo, src / folder.name)
    report = prepare([src], tmp_path / "cache", size=64, workers=0, val_fraction=0)
    assert report.candidates == 9 and report.kept["train"] + report.drops["grey"] == 9


# -- the command line ------------------------------------------------------------------------------------
def test_cli_prepares_reruns_and_reports(cli, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    rc, stdout, stderr = cli(
        "prepare", folder, "-o", out, "--size", SIZE, "--val-fraction", "0.5", "--workers", "0"
    )
    assert rc == 0, stderr
    assert "astronaut" in stdout and "10 photos found, 3 dropped (1 corrupt, 1 too-small, 1 grey)" in stdout
    assert Cache(out).size == SIZE
    rc, stdout, _ = cli(
        "prepare", folder, "-o", out, "--size", SIZE, "--val-fraction", "0.5", "--workers", "0"
    )
    assert rc == 0 and "up to date" in stdout


def test_cli_bad_usage_and_bad_data_exit_codes(cli, folder: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cases = [
        (("prepare", tmp_path / "missing", "-o", tmp_path / "c"), 2, "no such file or folder"),
        (("prepare", folder, "-o", folder), 2, "refusing to overwrite"),
        (("prepare", folder, "-o", tmp_path / "c", "--resize", "zoom"), 2, "unknown resize mode"),
        (("prepare", tmp_path / "empty", "-o", tmp_path / "c"), 1, "no images found"),
    ]
    for args, code, message in cases:
        rc, _, stderr = cli(*args)
        assert rc == code and message in stderr and "Traceback" not in stderr, (args, stderr)
        assert stderr.startswith("error: ")


def test_cli_help_explains_every_option_and_defaults_match_the_library(cli) -> None:
    rc, stdout, _ = cli("prepare", "--help")
    assert rc == 0
    for option in (
        "--out",
        "--size",
        "--resize",
        "--val-fraction",
        "--val",
        "--seed",
        "--workers",
        "--min-chroma",
    ):
        assert option in stdout
    from chromalab.cli import prepare as command

    params = inspect.signature(command.prepare).parameters  # the CLI writes its defaults out (fast --help)
    assert params["size"].default.default == prep.DEFAULT_SIZE
    assert params["min_chroma"].default.default == prep.DEFAULT_MIN_CHROMA
    assert params["resize"].default.default == prep.RESIZE_MODES[0]


def test_exclude_drops_near_duplicates_of_evaluation_photos(
    folder: Path, tmp_path: Path, photos: dict[str, np.ndarray]
) -> None:
    """A grey, smaller JPEG copy of one training photo in an --exclude folder drops that photo and no
    other."""
    held_out = tmp_path / "eval"
    held_out.mkdir()
    copy = (
        Image.fromarray(pieces(photos["astronaut"])[0])
        .convert("L")
        .resize((32, 32), Image.Resampling.LANCZOS)
    )
    copy.save(held_out / "copy.jpg", quality=75)
    # the whole photo; only a piece is in training
    Image.fromarray(photos["china"]).save(held_out / "unrelated.png")
    report = run([folder], tmp_path / "cache", val_fraction=0.0, exclude=[held_out])
    assert report.drops["near-duplicate"] == 1 and report.kept["train"] == 6
    duplicate = [d for d in manifest(tmp_path / "cache")["dropped"] if d["reason"] == "near-duplicate"]
    assert [Path(d["path"]).relative_to(folder).as_posix() for d in duplicate] == ["astronaut/0.png"]
    assert str(held_out / "copy.jpg") in duplicate[0]["detail"]
    assert not list((tmp_path / "cache").glob(".excluded*"))  # the hashes were scratch
    with pytest.raises(FileNotFoundError, match="no such"):
        run([folder], tmp_path / "cache2", exclude=[tmp_path / "missing"])


def test_min_side_enlarges_smaller_photos_instead_of_dropping_them(folder: Path, tmp_path: Path) -> None:
    """small.png is 20x20: dropped at --size 32, kept (enlarged to 32x32) with --min-side 16."""
    assert run([folder], tmp_path / "a", val_fraction=0.0).drops["too-small"] == 1
    report = run([folder], tmp_path / "b", val_fraction=0.0, min_side=16)
    assert report.drops["too-small"] == 0 and report.kept["train"] == 8
    assert Cache(tmp_path / "b").l.shape == (8, SIZE, SIZE)
    with pytest.raises(ValueError, match="minimum side"):
        run([folder], tmp_path / "c", min_side=SIZE + 1)


def test_cli_a_source_given_again_as_val_is_refused(cli, folder: Path, tmp_path: Path) -> None:
    rc, _, stderr = cli("prepare", folder, "--val", folder, "-o", tmp_path / "c")
    assert rc == 2 and "given both as a source and as --val" in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "c").exists()
