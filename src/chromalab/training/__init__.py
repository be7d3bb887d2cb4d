"""Training a model on a prepared cache: ``config`` (what a run is asked to do, torch-free), ``losses`` and
``gan`` (the pix2pix step), ``batches``, ``loop`` (the resumable, distributed loop; ``distributed`` for
torchrun), ``state`` (checkpoints with optimiser and RNG state), ``run_folder`` (what a run writes) and
``figures`` (loss curves, validation samples).

Imports ``color``, ``images``, ``files``, ``models`` and ``data``; imported by analysis, experiment and the
command line.
"""
