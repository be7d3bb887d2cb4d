"""How a clip is steadied, torch-free (the command line's defaults and checks read it without loading a
model)."""

from __future__ import annotations

# flow: carry the bin probabilities along the optical flow; none: each frame alone
TEMPORAL = (
    "flow",
    "none",
)
# with flow: the network sees every 2nd frame, the ones between carry its answer along the flow
NETWORK_EVERY = 2
# (measured on the shared clips against 1 and 3: bench/bench_video.py, README's Videos)
