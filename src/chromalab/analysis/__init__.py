"""Figures and reports: ``figures`` (canvas, photo grids, PNG writing), ``ab_plane`` (bins, priors, a/b
histograms) and ``ab_data`` (their ab values), ``model_figures`` (temperature sweep, comparisons, activations,
loss curves), ``clusters`` (k-means of photos by colour) and ``report`` (one HTML page about a run).

Imports every stage below it (color, images, files, models, data, colorize, training, evaluation); imported
by experiment and the command line.
"""
