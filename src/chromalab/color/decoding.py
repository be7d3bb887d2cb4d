"""How a distribution over ab bins becomes one colour: the method names and the annealed-mean temperature.

Plain Python (not even numpy), so that the command line checks these options and prints its help at once;
``decode_bins`` implements them. The temperature T sharpens the distribution before its mean is taken
(Zhang et al. 2016, eq. 5): T = 1 is the mean (muted), T -> 0 the mode (vivid). ``mode-hue`` takes its
chroma from that annealed mean and its hue from around the mode.
"""

from __future__ import annotations

DECODE_METHODS = ("annealed", "mean", "mode", "mode-hue")
# mode-hue (joint bins): the annealed mean's chroma in the hue of the mode's neighbourhood (the annealed mean
# of the bins within MODE_HUE_RADIUS of the most likely one), so that two likely colours (a blue and a red
# guess) are never averaged into a third (violet). Where that neighbourhood has almost no hue (the mode is
# grey), the annealed mean's own hue is kept.
MODE_HUE_RADIUS = 25.0  # Lab units: the mode's bin and its ring of neighbours on the grid-10 bins (2.5 cells)
MODE_HUE_MIN_CHROMA = 2.0  # Lab units: a neighbourhood mean this grey says no hue
DEFAULT_TEMPERATURE = 0.38  # Zhang et al. 2016
MODE_BELOW = 1e-3  # an annealed mean this cold is the mode
METHOD_TEMPERATURE = {"mode": 0.0, "mean": 1.0}  # mode and mean are annealed means at these temperatures
