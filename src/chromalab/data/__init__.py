"""Training data: ``chromalab prepare`` turns photo sources (``sources``) into a memory-mapped cache
(``cache``), decoding in worker processes (``workers``, run by ``prepare``); ``dataset`` reads it for torch.

Imports ``color``, ``images`` and ``files``; imported by training, evaluation (the semantic test), analysis
and the command line.
"""
