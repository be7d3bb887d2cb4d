"""Measuring a colorizer: ``metrics`` (pure metric functions and the one list of metric names), ``score``
(``chromalab evaluate``: a folder of colour photos, next to the grey baseline), ``semantic`` (Zhang et al.'s
semantic interpretability test on a cache) with its ``classifier``, and ``threads``.

Imports ``color``, ``images``, ``files``, ``models``, ``data`` and ``colorize``; imported by analysis,
experiment and the command line.
"""
