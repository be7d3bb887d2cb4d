"""Colorizing photos: ``options`` (torch-free defaults and rules), ``loading`` (the one place a model is
opened: which backend, which options), ``core`` (prepare -> network -> render, shared by both backends; and
``--model none``), ``torch_backend`` and ``onnx_backend``, ``export`` (model file -> ONNX graph), ``batch``
(many photos, overlapped; progress by callbacks), ``openmp`` (how idle threads wait), ``hint_session`` (one
photo whose hints keep changing), ``scribbles`` and ``spreading`` (the user's hints and strokes spread over
the colours, Levin et al. 2004), ``resume`` (every output named before any work; what a re-run skips),
``manifest`` (a job's record of what it settled) and ``cluster`` (the many-photo loop on Dask workers; the
one module that imports dask, only for ``--cluster``).

Imports ``color``, ``images``, ``files`` and ``models``; imported by video, evaluation, analysis, experiment,
serve, the command line, ``demo`` and the package's own ``__init__``.
"""
