"""``chromalab experiment``: a two-run comparison end to end on a tiny real cache, going on where it
stopped, and every config mistake as one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_crops
from PIL import Image

from chromalab.experiment.config import ExperimentError, load_experiment
from chromalab.experiment.jobs import train_command

CHROMALAB = str(Path(sys.executable).parent / "chromalab")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """photos/ (12 crops of 40x40 from three real photos) and cache/ (them, prepared at 32x32)."""
    root = tmp_path_factory.mktemp("experiment")
    write_crops(root / "photos")
    done = subprocess.run(
        [
            CHROMALAB,
            "prepare",
            str(root / "photos"),
            "-o",
            str(root / "cache"),
            "--size",
            "32",
            "--val-fraction",
            "0.25",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return root


CONFIG = """
parallel = 2
[data]
cache = "cache"
[evaluate]
sets = { crops = "photos" }
size = 32
temperatures = [0.38, 1.0]
[figure]
photos = "photos"
limit = 2
[train]
max_steps = 3
batch_size = 4
val_images = 4
seed = 0
[[run]]
name = "tiny-ce"
model = "tiny"
loss = "ce"
[[run]]
name = "tiny-l2"
model = "tiny"
loss = "l2"
"""


def _experiment(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMALAB, "experiment", str(config), "-o", str(out), *extra],
        capture_output=True,
        text=True,
        check=False,
    )


def test_two_runs_are_trained_scored_tabulated_and_not_redone(data: Path, tmp_path: Path) -> None:
    config = data / "zoo.toml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    done = _experiment(config, out)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads((out / "results.json").read_text())}
    assert set(rows) == {"tiny-ce", "tiny-l2"}
    assert set(rows["tiny-ce"]["scores"]) == {"crops@T0.38", "crops@T1"}  # classification: each temperature
    assert set(rows["tiny-l2"]["scores"]) == {"crops"}  # regression: once
    for row in rows.values():
        assert row["steps"] == 3 and row["images_seen"] == 12 and row["train_images_per_s"] > 0
        assert row["params_M"] > 0 and row["gflops"] > 0 and row["ms"] > 0
        for summary in row["scores"].values():
            assert summary["images"] == 12 and {"psnr", "auc_rebalanced"} <= set(summary["metrics"])
    table = (out / "results.md").read_text()
    assert table.count("| tiny-ce |") == 2 and table.count("| tiny-l2 |") == 1 and "| grey input |" in table
    with Image.open(out / "comparison.png") as figure:
        assert figure.width > 300

    model = out / "runs" / "tiny-ce" / "model.safetensors"
    stamp = model.stat().st_mtime_ns
    again = _experiment(config, out)
    assert again.returncode == 0, again.stderr
    assert "training:" not in again.stderr and "scoring:" not in again.stderr  # nothing left to do
    assert model.stat().st_mtime_ns == stamp


def test_an_interrupted_run_resumes_from_its_checkpoint(data: Path, tmp_path: Path) -> None:
    config = data / "zoo.toml"
    config.write_text(CONFIG)
    experiment = load_experiment(config)
    run = experiment.runs[0]
    assert "--resume" not in train_command(experiment, run, tmp_path)
    (tmp_path / "runs" / run.name).mkdir(parents=True)
    (tmp_path / "runs" / run.name / "checkpoint.safetensors").write_bytes(b"")
    command = train_command(experiment, run, tmp_path)
    assert "--resume" in command and "--model" not in command and command[-2:] == ["--max-steps", "3"]


def test_overrides_and_the_command_line_of_a_run(data: Path) -> None:
    config = data / "zoo.toml"
    config.write_text(
        CONFIG.replace(
            'loss = "l2"', 'loss = "l2"\noption = { channels = 4, wide = true, name = "x" }\nflip = false'
        )
    )
    experiment = load_experiment(config, cache=data / "elsewhere", minutes=2.5, only=["tiny-l2"])
    assert experiment.cache == data / "elsewhere" and [r.name for r in experiment.runs] == ["tiny-l2"]
    command = train_command(experiment, experiment.runs[0], data / "out")
    options = [command[i + 1] for i, part in enumerate(command) if part == "--option"]
    assert options == ["channels=4", "wide=true", "name=x"]  # JSON for TOML's booleans: train reads them back
    assert "--no-flip" in command and command[command.index("--minutes") + 1] == "2.5"
    assert experiment.eval_sets == {"crops": data / "photos"}  # relative to the config file


@pytest.mark.parametrize(
    "change, message",
    [
        (("[train]", "[train]\nbogus = 1"), "unknown key in [train]: bogus"),
        (('model = "tiny"\nloss = "ce"', 'model = "nope"\nloss = "ce"'), "model 'nope' is not registered"),
        (('name = "tiny-l2"', 'name = "tiny-ce"'), "run names must be unique"),
        (("max_steps = 3", ""), "needs the shared budget"),
        (('loss = "l2"', 'loss = "l3"'), "--loss must be one of"),
        (("parallel = 2", "parallel = = 2"), "not a readable TOML file"),
        (("[evaluate]", "[evaluate]\nlimits = 3"), "unknown key in [evaluate]: limits"),
        (("parallel = 2", "parallel = 0"), "parallel must be a positive integer, got 0"),
        (("size = 32", 'size = "big"'), "[evaluate] size must be a positive integer"),
        (("max_steps = 3", 'minutes = "ten"'), "run tiny-ce:"),
    ],
)
def test_config_mistakes_are_one_line_and_exit_2(
    data: Path, tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    config = tmp_path / "zoo.toml"
    config.write_text(
        CONFIG.replace(*change)
        .replace('"cache"', f'"{data / "cache"}"')
        .replace('"photos"', f'"{data / "photos"}"')
    )
    with pytest.raises(ExperimentError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_experiment(config)
    done = _experiment(config, tmp_path / "out")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr
    assert not (tmp_path / "out").exists()


def test_missing_files_are_usage_errors(data: Path, tmp_path: Path) -> None:
    done = _experiment(tmp_path / "absent.toml", tmp_path / "out")
    assert done.returncode == 2 and "no such file" in done.stderr
    config = data / "zoo.toml"
    config.write_text(CONFIG)
    done = _experiment(config, tmp_path / "out", "--cache", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "no such cache" in done.stderr


def test_sigterm_stops_the_running_training_at_once(data: Path, tmp_path: Path) -> None:
    """A run given minutes: SIGTERM to the experiment stops its training child too, within seconds, not
    when the child's budget is spent."""
    import signal
    import time

    config = data / "long.toml"
    config.write_text(
        CONFIG.split("[train]")[0]
        + "[train]\nminutes = 3\nepochs = 100000\nbatch_size = 4\nval_images = 4\nseed = 0\n"
        + '[[run]]\nname = "long"\nmodel = "tiny"\n'
    )
    out = tmp_path / "out"

    def children() -> list[str]:  # the training processes of this experiment
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = cmdline.read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if "train" in argv and "experiment" not in argv and any(str(out) in arg for arg in argv):
                found.append(" ".join(argv))
        return found

    experiment = subprocess.Popen(
        [CHROMALAB, "experiment", str(config), "-o", str(out)], stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not children():
        assert time.monotonic() < deadline and experiment.poll() is None, "the training job never started"
        time.sleep(0.1)
    time.sleep(2.0)  # into its training
    stopped = time.monotonic()
    experiment.send_signal(signal.SIGTERM)
    experiment.wait(timeout=60)
    assert time.monotonic() - stopped < 30  # not the 3 minutes of the child's budget
    assert children() == []
