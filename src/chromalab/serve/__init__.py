"""``chromalab serve``: colorizing in the browser. ``settings`` (what the server is allowed), ``forms``
(multipart uploads read as they stream, bounded), ``bodies`` (every request body under a byte limit, a pace
and a few receiving slots; JSON parsed safely), ``guard`` (Host and Origin checks), ``connections`` (a
deadline on request headers), ``work`` (the bounded pool beside the event loop), ``catalogue`` (the models
on offer), ``uploads`` (what is kept of each upload: its network output, a preview, the original in the
server's own temporary folder), ``rendering`` (network and pictures, run in the pool), ``server`` (what the
routes share while the app runs), ``routes`` (the photo API), ``app`` (the FastAPI app: start, errors, stop),
``study_routes`` and ``study_page`` (the human studies: the participant's page, its API, the
results page) and ``static/`` (plain HTML, CSS and JS; nothing fetched from another host).

Imports ``color``, ``images``, ``files``, ``colorize`` and ``study``; imported by the command
line only.
"""
