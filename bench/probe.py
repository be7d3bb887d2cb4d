"""Wall time and peak resident memory of one command, measured in a small wrapper process.

The wrapper (a bare Python) starts the command and reads ``RUSAGE_CHILDREN``: a child forked straight from a
benchmark that has loaded torch would report the benchmark's own resident memory as its peak (Linux counts
the pages a forked child shares until it calls exec).
"""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "wall = time.perf_counter() - start\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(done.returncode, wall, peak)\n"
    "sys.stderr.write(done.stderr)\n"
)


def measure(command: list[str]) -> dict[str, float]:
    """Run ``command``: {"wall_s", "peak_rss_mb"}; RuntimeError with its stderr if it fails."""
    done = subprocess.run([sys.executable, "-c", PROBE, *command], capture_output=True, text=True, check=True)
    rc, wall, peak_kib = done.stdout.split()
    if rc != "0":
        raise RuntimeError(f"{' '.join(command)} failed ({rc}): {done.stderr.strip()[-500:]}")
    return {"wall_s": float(wall), "peak_rss_mb": int(peak_kib) / 1024}
