"""How a distribution over ab bins becomes one colour: the method names and the annealed-mean temperature.

Torch-free, so that the ONNX backend and the command line check these options without importing torch;
``bins.Bins.decode`` implements them. The temperature T sharpens the distribution before its mean is taken
(Zhang et al. 2016, eq. 5): T = 1 is the mean (muted), T -> 0 the mode (vivid).
"""

from __future__ import annotations

DECODE_METHODS = ("annealed", "mean", "mode")
DEFAULT_TEMPERATURE = 0.38  # Zhang et al. 2016
MODE_BELOW = 1e-3  # an annealed mean this cold is the mode
METHOD_TEMPERATURE = {"mode": 0.0, "mean": 1.0}  # mode and mean are annealed means at these temperatures
