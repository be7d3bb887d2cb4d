"""``colorize.batch``: the many-photo loop that the command line (and the web app, video) call, on real
photos in ``tmp_path``: reports by callback in input order, never prints, never replaces what it must not."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chromalab.colorize.batch import colorize_all, expand_inputs
from chromalab.colorize.loading import load_colorizer
from chromalab.images import ImageError


@pytest.fixture(scope="module")
def colorizer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights, on purpose: only the loop is under test
        return load_colorizer("tiny", engine="torch", size=32)


def test_every_photo_is_reported_once_in_input_order(
    colorizer, photos: dict[str, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    Image.fromarray(photos["coffee"]).save(source / "a.png")
    (source / "b.jpg").write_bytes(b"not a photo")
    Image.fromarray(photos["chelsea"]).convert("L").save(source / "sub" / "c.jpg")
    out = tmp_path / "out"
    out.mkdir()
    (out / "d.png").write_bytes(b"kept")  # an output that exists: not replaced without overwrite
    Image.fromarray(photos["china"]).save(source / "d.png")
    jobs, problems = expand_inputs([str(source)])
    assert problems == [] and [relative.as_posix() for _, relative in jobs] == [
        "a.png",
        "b.jpg",
        "d.png",
        "sub/c.jpg",
    ]

    heard: list[tuple[str, str | None]] = []
    failures = colorize_all(
        colorizer,
        jobs,
        out,
        on_done=lambda path, problem: heard.append(
            (path.name, problem if problem is None else isinstance(problem, ImageError))
        ),
    )
    assert heard == [("a.png", None), ("b.jpg", True), ("d.png", True), ("c.jpg", None)]
    assert failures == 2
    assert (out / "d.png").read_bytes() == b"kept"
    assert Image.open(out / "sub" / "c.jpg").size == Image.open(source / "sub" / "c.jpg").size
    assert capsys.readouterr() == ("", "")  # the loop itself never prints

    assert colorize_all(colorizer, jobs[2:3], out, overwrite=True) == 0
    assert Image.open(out / "d.png").size == Image.open(source / "d.png").size


def test_an_output_that_would_replace_its_input_is_refused(
    colorizer, photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    Image.fromarray(photos["flower"]).save(tmp_path / "f.png")
    before = (tmp_path / "f.png").read_bytes()
    problems: list[Exception] = []
    jobs, _ = expand_inputs([str(tmp_path / "f.png")])
    assert (
        colorize_all(
            colorizer, jobs, tmp_path, overwrite=True, on_done=lambda path, problem: problems.append(problem)
        )
        == 1
    )
    assert isinstance(problems[0], ImageError) and "would replace an input" in str(problems[0])
    assert (tmp_path / "f.png").read_bytes() == before
