"""Human studies of colorizations: the colorization Turing test (Zhang et al. 2016: "which is the real
photo?") and the preference test (Gustavsson: "which looks more realistic?"), with attention checks.

``pairing`` (photos matched across folders by name), ``stimuli`` (the pictures shown: resized, re-encoded,
the random-colours attention check), ``plan`` (a study's settings and their rules), ``assignment`` (each
participant's balanced, randomised trials), ``storage`` (the study's SQLite file: plan, pictures, trials,
answers, one transaction per answer), ``statistics`` (Wilson interval, exact binomial test, bootstrap over
participants) and ``results`` (the summary and the per-answer table). No web framework, no torch.

Imports ``files``, ``images`` and ``color``; imported by ``serve`` (the participant's page and the results
page) and the command line (``chromalab study``).
"""
