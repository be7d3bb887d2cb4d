"""What a user installs and how fast a cold `chromalab colorize` starts, in one run.

Builds the wheel from the sdist (`python -m build`), installs it into a fresh venv without torch and measures:
- site-packages in MB of that base install (with and without the venv's own pip and setuptools), against the
  venv this script runs in (torch and the test extras) and torch alone;
- cold-process times, interleaved over --repeats rounds (medians): `import chromalab.cli`, and `chromalab
  colorize PHOTO` (import, model load, one photo) in the base install, in this venv, and, with --before REV,
  in a checkout of REV run by this venv (the install before torch became an extra).

    python bench/bench_install.py [--photo PHOTO] [--before REV] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLING = ("pip", "setuptools", "pkg_resources", "_distutils_hack")  # what every venv has, not the install
ENV = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def megabytes(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def run(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    result = subprocess.run(args, capture_output=True, text=True, env=env or ENV, cwd=cwd)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def timed(args: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    run(args, env, cwd)
    return time.perf_counter() - started


def base_install(work: Path) -> tuple[Path, float]:
    """(venv, seconds to install the wheel into it)."""
    run([sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(REPO)])
    (wheel,) = (work / "dist").glob("*.whl")
    run([sys.executable, "-m", "venv", str(work / "venv")])
    started = time.perf_counter()
    run([str(work / "venv/bin/pip"), "install", "-q", str(wheel)])
    return work / "venv", time.perf_counter() - started


def checkout(rev: str, work: Path) -> Path:
    """A worktree of ``rev`` with its C extension built, for this venv's python."""
    tree = work / "before"
    run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev])
    run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree)
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=Path("../shared/data/eval/kodak24/kodim04.png"))
    parser.add_argument("--before", help="a revision to time as the install before (run by this venv)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    photo = args.photo.resolve()
    work = Path(tempfile.mkdtemp(prefix="bench-install-"))
    try:
        venv, install_s = base_install(work)
        site = site_packages(venv)
        base = megabytes(site)
        tooling = sum(megabytes(site / name) for name in TOOLING if (site / name).exists())
        here = site_packages(Path(sys.prefix))
        print(
            f"base install (wheel, no torch): {base:.0f} MB of site-packages, {base - tooling:.0f} MB without"
        )
        print(f"  the venv's pip and setuptools; pip install took {install_s:.1f} s (pip's cache warm)")
        torch_mb = megabytes(here / "torch")
        print(f"this venv (torch and test extras): {megabytes(here):.0f} MB; torch alone {torch_mb:.0f} MB")
        print(f"the wheel: {next((work / 'dist').glob('*.whl')).stat().st_size / 1e6:.1f} MB")

        installs = {"base install": (str(venv / "bin/python"), ENV)}
        installs["this venv"] = (sys.executable, ENV)
        if args.before:
            tree = checkout(args.before, work)
            installs[f"before ({args.before})"] = (sys.executable, {**ENV, "PYTHONPATH": str(tree / "src")})
        times: dict[str, dict[str, list[float]]] = {name: {"import": [], "colorize": []} for name in installs}
        for round_ in range(args.repeats):
            for name, (python, env) in installs.items():
                out = work / f"out-{round_}-{len(times[name]['colorize'])}-{name.split()[0]}"
                times[name]["import"].append(timed([python, "-c", "import chromalab.cli"], env, work))
                command = [python, "-m", "chromalab", "colorize", str(photo), "-o", str(out)]
                times[name]["colorize"].append(timed(command, env, work))
        print(f"\ncold process, median of {args.repeats} (s): import chromalab.cli | colorize {photo.name}")
        for name, measured in times.items():
            medians = [statistics.median(measured[key]) for key in ("import", "colorize")]
            print(f"  {name:24s} {medians[0]:6.2f} | {medians[1]:6.2f}")
    finally:
        if args.before:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(work / "before")])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
