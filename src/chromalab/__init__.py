"""chromalab: automatic image colorization toolkit.

``from chromalab import Colorizer; Colorizer.load("default").colorize(image)`` (torch), or the same with
``OnnxColorizer`` (onnxruntime, no torch). Heavy imports happen lazily so that the command line starts fast.

The package is laid out by the stages of the data flow, each importing only the ones before it:
``color`` and ``files`` -> ``images`` -> ``models`` -> ``data`` -> ``colorize`` -> ``training`` and
``video`` -> ``evaluation`` -> ``analysis`` and ``study`` -> ``experiment`` and ``serve`` -> ``cli`` and
``demo``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Colorizer", "OnnxColorizer", "__version__"]

if TYPE_CHECKING:
    from chromalab.colorize.onnx_backend import OnnxColorizer
    from chromalab.colorize.torch_backend import Colorizer


def __getattr__(name: str) -> Any:
    if name == "Colorizer":
        from chromalab.colorize.torch_backend import Colorizer

        return Colorizer
    if name == "OnnxColorizer":
        from chromalab.colorize.onnx_backend import OnnxColorizer

        return OnnxColorizer
    raise AttributeError(f"module 'chromalab' has no attribute {name!r}")
