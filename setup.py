"""Build of the C extension only; all metadata lives in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "chromalab.color._srgb8",
            ["src/chromalab/color/_srgb8.c"],
            # no FMA contraction: the kernel rounds exactly where torch's bilinear kernel does; no FP traps
            # assumed (results unchanged): lets GCC vectorise the branch-free selects of the gamut fit
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-trapping-math"],
            extra_link_args=["-pthread"],
        )
    ]
)
