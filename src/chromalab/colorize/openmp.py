"""How idle OpenMP threads wait, chosen from the machine's load before torch is first imported.

Torch-free, so that the command line can call it before anything imports torch.
"""

from __future__ import annotations

import os

IDLE_LOAD = 1.0  # a 1-minute load average below this: no other process has been busy, on average
IDLE_SPIN_COUNT = "3000"  # GOMP_SPINCOUNT on an idle machine: 30000 measured no faster, 300 and 1000 slower


def polite_openmp() -> str:
    """Choose how idle OpenMP threads wait, before torch is first imported (its libgomp reads the
    environment then); returns the choice, for reports. A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT
    wins.

    Between two layers of a forward pass a worker thread either spins, ready at once, or sleeps and is
    woken by the next layer. Measured on the 2-core machine with the default network at 256 x 256 in its
    inference form, 2 threads: idle, a brief spin 23-26 ms against 37-43 ms asleep; beside one or two busy
    processes, 72-74 ms spinning briefly against 40-42 ms asleep (a spinning worker keeps a core from the
    process that needs it; libgomp's default, a long spin, took 1.6 s; earlier, the then default network at
    128 x 128 470 ms against 23 ms asleep). So the threads spin briefly when the machine is idle and sleep
    at once otherwise.
    """
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return "as set in the environment"
    if os.getloadavg()[0] < IDLE_LOAD:
        os.environ["GOMP_SPINCOUNT"] = IDLE_SPIN_COUNT
        return f"idle machine: brief spin (GOMP_SPINCOUNT={IDLE_SPIN_COUNT})"
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "busy machine: sleep at once (OMP_WAIT_POLICY=PASSIVE)"
