"""Colour maths, no I/O: ``lab`` (sRGB <-> Lab in torch, the network's L and ab scaling), ``srgb8`` (the
full-resolution Lab -> 8-bit sRGB pass and its C kernel, numpy only), ``bins`` (ab bin sets, soft-encoding,
decoding, class rebalancing), ``decoding`` (the decoding methods and temperature, torch-free) and ``hints``
(colour hints: the JSON file, hex colours, the sampler of Zhang et al. 2017).

The lowest stage: imports nothing of chromalab outside itself; every other stage may import it.
"""
