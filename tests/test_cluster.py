"""``chromalab colorize --cluster`` on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1 that the tests start and stop by PID, real photos (ImageNet validation photos,
shrunk) in ``tmp_path``, the command run as a child process. The outputs must be the bytes the command
writes without a cluster, exactly once, after a worker or the driver is killed mid-run.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import hears_ctrl_c, shared_clip, write_cut
from PIL import Image

import chromalab
from chromalab.colorize.manifest import MANIFEST_NAME

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")  # a dependency of distributed

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "val128"
SOURCE = str(Path(chromalab.__file__).resolve().parents[1])  # the chromalab under test, for the children
DASK = Path(sys.executable).parent / "dask"
# what the docs tell a cluster (no MALLOC_TRIM_THRESHOLD_ from Dask's nanny; a worker holds only the task it
# runs), and for these tests a task is given up after its second worker died on it, not its fourth
DASK_CONFIG = """distributed:
  scheduler:
    allowed-failures: 1
    worker-saturation: 1.0
  nanny:
    pre-spawn-environ:
      MALLOC_TRIM_THRESHOLD_: null
"""
MEMORY_LIMIT = "600MB"  # a worker above 95 % of it is killed by its nanny: the poison photo's doing


def environment(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [SOURCE, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "120", **extra}


def run(*args: object, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chromalab", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or environment(),
        timeout=120,
    )


def start(*args: object, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "chromalab", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=environment(),
        preexec_fn=hears_ctrl_c,
    )


def digest(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``folder`` (the manifest too, if there)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def outputs(folder: Path) -> dict[str, str]:
    return {name: value for name, value in digest(folder).items() if name != MANIFEST_NAME}


def no_traceback(result: subprocess.CompletedProcess | tuple[str, str]) -> None:
    stderr = result.stderr if hasattr(result, "stderr") else result[1]
    assert "Traceback" not in stderr, stderr


def write_photos(folder: Path, count: int, side: int) -> Path:
    """``count`` real grey photos of ``side`` pixels, ``000.png``...; a quarter in ``sub/``."""
    files = sorted(PHOTOS.rglob("*.jpg"))[:count]
    if len(files) < count:
        pytest.skip(f"shared photos missing: {PHOTOS}")
    for i, file in enumerate(files):
        target = folder / ("sub" if i % 4 == 3 else "") / f"{i:03d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(file).convert("L").resize((side, side), Image.Resampling.BILINEAR).save(target)
    return folder


def wait_for_manifest(out: Path, lines: int, process: subprocess.Popen, timeout: float = 60) -> None:
    """Until the running job's manifest holds ``lines`` records: it is under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        manifest = out / MANIFEST_NAME
        if manifest.is_file() and len(manifest.read_text().splitlines()) >= lines:
            return
        time.sleep(0.05)
    raise AssertionError(f"the job never got to {lines} records (exit {process.poll()})")


def worker_pid(address: str, name: str) -> int | None:
    """The process id of the worker called ``name``, as the scheduler knows it (None: not there now)."""
    with distributed.Client(address, timeout=30) as client:
        named = [a for a, w in client.scheduler_info()["workers"].items() if w.get("name") == name]
        return client.run(os.getpid, workers=named)[named[0]] if named else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A ``dask scheduler`` and two ``dask worker --nthreads 1`` (each under its nanny) on 127.0.0.1:
    {"address", "workers": [nanny Popen, ...]}; stopped by PID at the end."""
    config = tmp_path_factory.mktemp("dask-config")
    (config / "chromalab.yaml").write_text(DASK_CONFIG)
    env = environment(DASK_CONFIG=str(config))
    address = f"tcp://127.0.0.1:{free_port()}"
    common = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    port = address.rsplit(":", 1)[1]
    processes = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--dashboard-address", "127.0.0.1:0"],
            **common,
        )
    ]
    try:
        for name in ("w0", "w1"):
            worker = [
                DASK,
                "worker",
                address,
                "--nthreads",
                "1",
                "--name",
                name,
                "--dashboard-address",
                "127.0.0.1:0",
                "--memory-limit",
                MEMORY_LIMIT,
            ]
            processes.append(subprocess.Popen([*worker, "--host", "127.0.0.1"], **common))
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield {"address": address, "workers": processes[1:]}
    finally:
        stop(processes)


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each (workers first, while their scheduler still answers), then SIGKILL whatever of them and
    of their own children (a nanny's worker) is left."""
    children = [child for p in processes if p.poll() is None for child in psutil.Process(p.pid).children()]
    for process in reversed(processes):
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for child in children:
        if child.is_running():
            child.kill()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 photos of 48 x 48: the whole set in a second or two."""
    return write_photos(tmp_path_factory.mktemp("small"), 200, 48)


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 photos of 256 x 256: several seconds on two workers, time to kill something mid-run."""
    return write_photos(tmp_path_factory.mktemp("large"), 200, 256)


def test_the_cluster_writes_the_bytes_of_the_plain_command(
    scheduler: dict, small: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a photo")
    common = [small, broken, "--size", "48", "--threads-per-worker", "1"]
    plain = run("colorize", *common, "-o", tmp_path / "plain")
    on_cluster = run("colorize", *common, "-o", tmp_path / "cluster", "--cluster", scheduler["address"])
    for result in (plain, on_cluster):
        no_traceback(result)
        assert result.returncode == 1, result.stderr  # the broken photo: some inputs failed
        assert result.stderr.splitlines() == [f"error: {broken}: not an image Pillow can read"], result.stderr
    assert len(outputs(tmp_path / "plain")) == 200
    assert outputs(tmp_path / "cluster") == outputs(tmp_path / "plain")
    assert "done 200, failed 1, skipped 0" in on_cluster.stdout
    assert "w0: " in on_cluster.stdout and "w1: " in on_cluster.stdout  # both workers took a share
    records = [json.loads(line) for line in (tmp_path / "cluster" / MANIFEST_NAME).read_text().splitlines()]
    assert sorted(r["status"] for r in records) == ["done"] * 200 + ["failed"]
    assert [r["reason"] for r in records if r["status"] == "failed"] == ["not an image Pillow can read"]

    again = run("colorize", *common, "-o", tmp_path / "cluster", "--cluster", scheduler["address"])
    assert again.returncode == 1 and "done 0, failed 1, skipped 200" in again.stdout, again.stdout


def test_a_worker_killed_mid_run_costs_no_output(scheduler: dict, large: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = start("colorize", large, "-o", out, "--cluster", scheduler["address"])
    wait_for_manifest(out, 20, job)
    killed = worker_pid(scheduler["address"], "w0")
    os.kill(killed, signal.SIGKILL)
    assert job.poll() is None and len((out / MANIFEST_NAME).read_text().splitlines()) < 200  # mid-run
    stdout, stderr = job.communicate(timeout=120)
    no_traceback((stdout, stderr))
    assert job.returncode == 0, stderr
    assert "done 200, failed 0, skipped 0" in stdout
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = sorted(p.relative_to(large).as_posix() for p in large.rglob("*.png"))
    assert names == sorted([*expected, MANIFEST_NAME])  # every output once, no name-2 twin, no temp file
    for name in expected:
        with Image.open(out / name) as image:
            assert image.size == (256, 256)
            image.load()
    deadline = time.monotonic() + 60
    while worker_pid(scheduler["address"], "w0") in (None, killed) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert worker_pid(scheduler["address"], "w0") not in (None, killed)  # its nanny started it again


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_driver_stopped_mid_run_is_finished_by_a_re_run(
    scheduler: dict, large: Path, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    out = tmp_path / "out"
    job = start("colorize", large, "-o", out, "--cluster", scheduler["address"])
    wait_for_manifest(out, 20, job)
    job.send_signal(stop_signal)
    stdout, stderr = job.communicate(timeout=30)
    if stop_signal == signal.SIGINT:  # one line and exit 1: some inputs are not done
        assert job.returncode == 1 and stderr.startswith("interrupted: done "), stderr
        assert len(stderr.splitlines()) == 1 and "run the same command again" in stderr
    recorded = len((out / MANIFEST_NAME).read_text().splitlines())
    assert recorded < 200

    rerun = run("colorize", large, "-o", out, "--cluster", scheduler["address"])
    no_traceback(rerun)
    assert rerun.returncode == 0, rerun.stderr
    summary = next(line for line in rerun.stdout.splitlines() if line.startswith("done "))
    done, skipped = int(summary.split()[1].rstrip(",")), int(summary.split()[5])
    assert done + skipped == 200 and skipped >= recorded, summary  # only what was missing was done
    assert outputs(out).keys() == {p.relative_to(large).as_posix() for p in large.rglob("*.png")}


def test_a_local_cluster_gives_the_plain_bytes(small: Path, tmp_path: Path) -> None:
    """Photos and a clip (one task, its frames in order) on ``--cluster local``."""
    photos = [small / f"{i:03d}.png" for i in range(12) if i % 4 != 3]
    clip = tmp_path / "clip.mp4"
    write_cut(shared_clip("street"), clip, 6)
    common = [*photos, "--size", "48", "--threads-per-worker", "1"]
    plain = run("colorize", *common, clip, "-o", tmp_path / "plain")
    local = run("colorize", *common, clip, "-o", tmp_path / "local", "--cluster", "local", "--workers", "2")
    no_traceback(local)
    assert plain.returncode == 0 and local.returncode == 0, local.stderr
    assert "cluster ready in" in local.stdout and "done 10, failed 0, skipped 0" in local.stdout
    assert outputs(tmp_path / "local") == outputs(tmp_path / "plain")
    assert "clip.mp4" in outputs(tmp_path / "local")

    (tmp_path / "local" / "000.png").unlink()
    manifest = tmp_path / "local" / MANIFEST_NAME  # 001.png as if its driver died before recording it...
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(line for line in lines if '"001.png"' not in line))
    (tmp_path / "local" / "001.png").write_bytes(b"cut short")  # ...and someone else wrote there since
    resumed = run("colorize", *common, "-o", tmp_path / "local", "--cluster", "local", "--workers", "1")
    assert resumed.returncode == 1, resumed.stderr
    assert "done 1, failed 1, skipped 7" in resumed.stdout
    assert resumed.stderr.splitlines() == [
        f"error: {photos[1]}: output {tmp_path / 'local' / '001.png'} exists and does not decode "
        "(pass --overwrite to replace it)"
    ]
    assert outputs(tmp_path / "local")["000.png"] == outputs(tmp_path / "plain")["000.png"]


def test_usage_errors_are_one_line_and_exit_2(small: Path, tmp_path: Path) -> None:
    shadow = tmp_path / "no-dask" / "distributed"  # a Python where dask's distributed cannot be imported
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no distributed here', name='distributed')\n")
    env = environment(PYTHONPATH=os.pathsep.join([str(shadow.parent), SOURCE]))
    photo = small / "000.png"
    missing = run("colorize", photo, "-o", tmp_path / "out", "--cluster", "local", env=env)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        "error: --cluster needs Dask (distributed is missing): pip install 'chromalab[cluster]'"
    ]
    for args, message in [
        (["--workers", "2"], "error: --workers goes with --cluster local"),
        (["--cluster", "nowhere"], "error: --cluster nowhere: no Dask scheduler answers at nowhere"),
    ]:
        result = run("colorize", photo, "-o", tmp_path / "out", *args)
        no_traceback(result)
        assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
    assert not (tmp_path / "out" / "000.png").exists()


def test_a_photo_that_kills_its_worker_fails_alone(scheduler: dict, small: Path, tmp_path: Path) -> None:
    """A flat 100-megapixel PNG (120 kB on disk) needs more memory than a worker may take: its nanny kills
    it, again after each retry, until Dask gives up (``KilledWorker``); the photo fails, the job goes on."""
    poison = tmp_path / "poison.png"
    Image.new("L", (10_000, 10_000), 128).save(poison)
    photos = [small / f"{i:03d}.png" for i in range(3)]
    result = run("colorize", poison, *photos, "-o", tmp_path / "out", "--cluster", scheduler["address"])
    no_traceback(result)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {poison}: a worker died on it again and again (Dask's KilledWorker)"
    ]
    assert "done 3, failed 1, skipped 0" in result.stdout
    assert sorted(outputs(tmp_path / "out")) == ["000.png", "001.png", "002.png"]
    with distributed.Client(scheduler["address"], timeout=30) as client:
        client.wait_for_workers(2, timeout=60)  # both nannies restarted theirs
