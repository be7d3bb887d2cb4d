"""Training data: ``chromalab prepare`` turns photo sources (``sources``) into a memory-mapped cache
(``cache``), decoding in worker processes (``workers``, run by ``prepare``) and building it in a folder of its
own (``build_folder``); ``training.batches`` reads batches from it.

Imports ``color``, ``images`` and ``files``; imported by training, evaluation (the semantic test), analysis
and the command line.
"""
