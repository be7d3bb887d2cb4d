"""Colorizing photos with a trained model: ``options`` (torch-free defaults and rules), ``core`` (prepare ->
network -> render, shared by both backends), ``torch_backend`` and ``onnx_backend``, ``export`` (model file ->
ONNX graph), ``batch`` (many photos, overlapped; progress by callbacks) and ``scribbles`` (the user's hints
and strokes spread over the colours, Levin et al. 2004).

Imports ``color``, ``images``, ``files`` and ``models``; imported by evaluation, analysis, experiment, the
command line and ``demo``.
"""
