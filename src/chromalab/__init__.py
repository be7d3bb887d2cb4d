"""chromalab: automatic image colorization toolkit.

``from chromalab import Colorizer; Colorizer.load("default").colorize(image)``. Heavy imports (torch)
happen lazily so that the command line starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Colorizer", "__version__"]

if TYPE_CHECKING:
    from chromalab.pipeline import Colorizer


def __getattr__(name: str) -> Any:
    if name == "Colorizer":
        from chromalab.pipeline import Colorizer

        return Colorizer
    raise AttributeError(f"module 'chromalab' has no attribute {name!r}")
