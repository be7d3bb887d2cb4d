"""Colorizing films: ``kinds`` (which files are videos), ``settings`` (the steadying's modes and defaults),
``clips`` (reading any container PyAV opens, writing H.264 with the audio kept), ``flow`` (optical flow,
its reliability, warping), ``temporal`` (carrying the bin probabilities from frame to frame so the colour
does not flicker) and ``colorize_clip`` (the streaming loop, a few frames in memory).

Imports ``color``, ``images``, ``files``, ``models`` and ``colorize``; imported by evaluation and the
command line.
"""
