"""``chromalab experiment``: an equal-budget comparison of models described by one TOML file. ``config`` reads
and checks the file, ``jobs`` runs the training and scoring commands as child processes, ``results`` gathers
the numbers into a table and a comparison figure.

Imports the stages below it (training's config and run-folder names, models, evaluation's metric names,
analysis for the figure); imported by the command line only.
"""
