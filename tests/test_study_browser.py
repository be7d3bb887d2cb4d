"""A human study as a participant meets it: ``chromalab serve --study`` in its own process and Debian's
chromium driven by Playwright (test_serve_browser's pattern): instructions, practice with feedback, the
exposure time, a reload in the middle that resumes where it stopped, the end; then the results page behind
the admin token."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from live_server import CHROMIUM, CHROMIUM_ARGS, served, watch
from test_study import folders, new_study  # noqa: F401  (folders: the photos fixture)

SHOW_MS = 300


def answered(path: Path) -> list[tuple[str, int, int, str]]:
    """(participant, position, choice, where the real photo was: 'left', 'right' or '') of every answer."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT t.participant, t.position, a.choice, t.first, t.first_side FROM answers a "
            "JOIN trials t ON t.id = a.trial ORDER BY t.position"
        ).fetchall()
    return [
        (who, position, choice, ("left", "right")[side] if first == "truth" else "")
        for who, position, choice, first, side in rows
    ]


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_participant_practises_reloads_resumes_and_finishes(
    folders: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    path = tmp_path / "demo.sqlite"
    plan = new_study(folders, path, practice=2, trials=4, attention=0.25, show_ms=SHOW_MS)
    problems: list[str] = []
    with (
        served("--study", str(path), log=tmp_path / "serve.log") as (url, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 700})
        watch(page, problems)
        page.goto(url + "/study/demo")
        expect(page.locator("#instructions")).to_be_visible()
        expect(page.locator("#questions")).to_contain_text("Which is the real photo?")
        expect(page.locator("#timing")).to_contain_text("0.3 s")
        page.screenshot(path=str(tmp_path / "instructions.png"))
        page.locator("#start").click()

        for number, answer in (
            (1, lambda: page.locator(".choice").first.click()),
            (2, lambda: page.keyboard.press("ArrowRight")),
        ):
            expect(page.locator("#progress-text")).to_have_text(f"Practice {number} of 2")
            expect(page.locator(".choice").first).to_be_enabled()
            expect(page.locator(".pair")).to_have_class("pair hidden")  # gone after the exposure time
            answer()
            expect(page.locator("#next")).to_be_visible()
            who, position, choice, real = answered(path)[-1]
            assert position == number - 1 and choice == number - 1
            verdict = "Right!" if ("left", "right")[choice] == real else "Wrong."
            expect(page.locator("#feedback")).to_have_text(f"{verdict} The real photo was the {real} one.")
            if number == 1:
                page.screenshot(path=str(tmp_path / "feedback.png"))
            page.locator("#next").click()

        for number in (1, 2):
            expect(page.locator("#progress-text")).to_have_text(f"Pair {number} of 4")
            expect(page.locator(".choice").first).to_be_enabled()
            page.locator(".choice").nth(number % 2).click()
        expect(page.locator("#progress-text")).to_have_text("Pair 3 of 4")
        # no feedback when counted
        assert len(answered(path)) == 4 and not page.locator("#feedback").text_content()
        page.reload()  # mid-way: the page goes on where it stopped, without the instructions
        expect(page.locator("#progress-text")).to_have_text("Pair 3 of 4")
        expect(page.locator("#instructions")).to_be_hidden()
        assert (
            page.evaluate("() => JSON.parse(localStorage.getItem('chromalab-study:demo')).participant") == who
        )
        page.keyboard.down("ArrowRight")  # held: pair 3 is answered once ...
        expect(page.locator("#progress-text")).to_have_text("Pair 4 of 4")
        expect(page.locator(".choice").first).to_be_enabled()
        page.keyboard.down("ArrowRight")  # ... and its auto-repeat never answers pair 4, unseen
        page.keyboard.up("ArrowRight")
        assert len(answered(path)) == 5
        page.locator(".choice").first.click()
        expect(page.locator("#done")).to_be_visible()
        page.reload()
        expect(page.locator("#done")).to_be_visible()

        assert [(w, p) for w, p, *_ in answered(path)] == [(who, p) for p in range(6)]  # each once, in order
        assert page.request.get(url + "/study/demo/results").status == 403
        page.goto(url + f"/study/demo/results?token={plan.token}")
        expect(page.locator("h1")).to_have_text("Study demo: results")
        expect(page.locator("svg.rate-plot")).to_have_count(4)  # model, muted, model vs muted, attention
        expect(page.locator("body")).to_contain_text("4 counted answers from 1 participants")
        page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
        page.set_viewport_size({"width": 360, "height": 700})  # a phone: no sideways scrolling, plots drawn
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        widths = page.evaluate(
            "[...document.querySelectorAll('svg.rate-plot')].map(s => s.getBoundingClientRect().width)"
        )
        assert min(widths) > 250, widths
        browser.close()
    assert problems == [], problems
    assert all(
        (tmp_path / name).stat().st_size > 10_000
        for name in ("instructions.png", "feedback.png", "results.png")
    )
