"""Colour maths: sRGB <-> Lab (``lab``) and quantised ab bins (``bins``)."""
