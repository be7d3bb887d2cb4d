"""The web page's cards as a user meets them in a real browser (Debian's chromium, Playwright) against a real
``chromalab serve``: many photos at once all colorized, a photo the server no longer keeps said so and sent
again, the whole photo in colour while hinting, hints placed and moved by keyboard."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from live_server import CHROMIUM, CHROMIUM_ARGS, served, watch
from PIL import Image

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="Debian's chromium is not installed (.ci/run installs it)"
)
DONE = "pixels, "  # a colorized card's state line: "W x H pixels, MODEL"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen]]:
    with served(log=tmp_path_factory.mktemp("serve") / "serve.log") as running:
        yield running


@pytest.fixture()
def page(server: tuple[str, subprocess.Popen]) -> Iterator[tuple[object, list[str]]]:
    """The app's page in chromium, its console errors and failed requests collected: (page, problems)."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        opened = browser.new_page(viewport={"width": 900, "height": 800})
        watch(opened, problems)
        opened.goto(server[0] + "/")
        opened.wait_for_selector("#model option", state="attached")
        yield opened, problems
        browser.close()


def states(page) -> list[str]:
    return page.locator(".card .state").all_inner_texts()


def wait_until_done(page, count: int) -> None:
    page.wait_for_function(
        "([count, done]) => { const s = [...document.querySelectorAll('.card .state')]; "
        "return s.length === count && s.every((p) => p.textContent.includes(done) || "
        "p.textContent.startsWith('Not colorized')); }",
        arg=[count, DONE],
        timeout=120_000,
    )


def upload_one(page, rgb: np.ndarray, size: tuple[int, int], folder: Path) -> None:
    """``rgb`` in grey at ``size`` (W, H), chosen in the page's file input and colorized."""
    photo = folder / "photo.png"
    Image.fromarray(rgb).convert("L").resize(size).save(photo)
    page.set_input_files("#files", str(photo))
    wait_until_done(page, 1)


def test_many_photos_chosen_at_once_are_all_colorized(page, tmp_path: Path) -> None:
    """Eight 0.5 MB photos at once: the server takes two bodies at a time from one address (a third gets
    503), so the page sends two at a time and tries a busy answer again: every card is colorized."""
    opened, problems = page
    noise = np.random.default_rng(0)
    files = []
    for index in range(8):
        path = tmp_path / f"noise-{index}.png"
        # ~0.5 MB each: noise does not compress
        Image.fromarray(noise.integers(0, 256, (700, 700), dtype=np.uint8)).save(path)
        files.append(str(path))
    opened.set_input_files("#files", files)
    wait_until_done(opened, 8)
    assert all(DONE in state for state in states(opened)), states(opened)
    assert opened.locator("#status").inner_text() == "8 photo(s) colorized"
    assert problems == [], problems


def test_a_photo_the_server_no_longer_keeps_says_so_and_is_sent_again(
    page, server: tuple[str, subprocess.Popen], photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    opened, problems = page
    upload_one(opened, photos["coffee"], (240, 160), tmp_path)
    upload_id = opened.locator(".card .after").get_attribute("src").split("/")[3]
    assert opened.request.delete(f"{server[0]}/api/uploads/{upload_id}").ok  # as an hour unused would
    opened.locator("#temperature").fill("0.4")  # the preview is asked for again: 404
    opened.wait_for_function(
        "() => document.querySelector('.card .state').textContent.includes('no longer keeps')"
    )
    assert opened.locator(".card .compare").is_hidden() and opened.locator(".card .card-actions").is_hidden()
    assert "0 photo(s) colorized, 1 not" in opened.locator("#status").inner_text()
    opened.locator(".card .retry").click()
    wait_until_done(opened, 1)
    assert DONE in states(opened)[0]
    opened.wait_for_function(  # the new upload's preview, loaded
        "(old) => { const i = document.querySelector('.card .after'); "
        "return i.complete && i.naturalWidth > 0 && !i.src.includes(old); }",
        arg=upload_id,
    )
    assert opened.locator(".card .compare").is_visible()
    assert all("/preview" in problem or "404" in problem for problem in problems), problems  # the one 404


def test_hints_show_the_whole_photo_in_colour_and_work_by_keyboard(
    page, photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    opened, problems = page
    upload_one(opened, photos["coffee"], (200, 100), tmp_path)
    opened.locator(".card .split").fill("80")  # 80 % of the photo shows the grey input
    opened.locator(".card .hints-toggle").click()
    assert opened.locator(".card .before").is_hidden()  # hinting: all of it in colour
    compare = opened.locator(".card .compare")
    compare.focus()
    with opened.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/hints")) as placed:
        opened.keyboard.press("Enter")
    first = json.loads(placed.value.post_data)["hints"]
    assert len(first) == 1 and (first[0]["x"], first[0]["y"]) == (100, 50)  # the photo's middle
    marker = opened.locator(".card .hint")
    opened.wait_for_function("() => document.activeElement.classList.contains('hint')")
    with opened.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/hints")) as moved:
        opened.keyboard.press("Shift+ArrowRight")  # 10 % of the width
        opened.keyboard.press("ArrowDown")  # 1 % of the height
    hint = json.loads(moved.value.post_data)["hints"][0]
    assert (hint["x"], hint["y"]) == (120, 51)
    assert marker.get_attribute("aria-label") == f"hint at 120, 51: {hint['color']}"
    with opened.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/hints")) as picked:
        opened.locator(".card .hint-colour").evaluate(
            "(input) => { input.value = '#1040ff'; input.dispatchEvent(new Event('change')); }"
        )
    assert json.loads(picked.value.post_data)["hints"][0]["color"] == "#1040ff"
    assert marker.get_attribute("aria-label") == "hint at 120, 51: #1040ff"  # the label follows the colour
    marker.focus()
    with opened.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/hints")) as removed:
        opened.keyboard.press("Delete")
    assert json.loads(removed.value.post_data)["hints"] == [] and marker.count() == 0
    assert problems == [], problems


def test_a_model_switch_sends_each_photo_once_and_leaves_no_stale_controls(
    page, photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """Two photos, one with a reference and a hint; switching to ``fast-v1`` uploads each photo once more,
    and the card shows no hint controls and no reference to remove (fast-v1 cannot match one)."""
    opened, problems = page
    paths = []
    for name in ("coffee", "chelsea"):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(photos[name]).convert("L").resize((160, 120)).save(paths[-1])
    reference = tmp_path / "colour.png"
    Image.fromarray(photos["coffee"]).resize((160, 120)).save(reference)
    opened.set_input_files("#files", [str(path) for path in paths])
    wait_until_done(opened, 2)
    first = opened.locator(".card").first
    first.locator(".reference-file").set_input_files(str(reference))
    opened.wait_for_function(
        "() => document.querySelector('.card .reference-state').textContent.includes('matched')"
    )
    first.locator(".hints-toggle").click()
    first.locator(".compare").click()
    first.locator(".hint-controls").wait_for()
    posts: list[str] = []
    opened.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    opened.select_option("#model", "fast-v1")
    opened.wait_for_function(
        "() => [...document.querySelectorAll('.card .state')].every((p) => p.textContent.endsWith('fast-v1'))"
    )
    opened.wait_for_function(
        "() => document.querySelector('.card .reference-state').textContent.startsWith('Reference not taken')"
    )
    assert len(posts) == 2, posts  # one upload a photo
    message = first.locator(".reference-state").inner_text()
    assert "still" not in message and first.locator(".reference-remove").is_hidden()
    assert first.locator(".hint").count() == 0 and first.locator(".hint-controls").is_hidden()
    assert len(problems) == 1 and "400" in problems[0], problems  # the reference refused by fast-v1
