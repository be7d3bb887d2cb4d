"""``chromalab serve`` as a user meets it: a real server on 127.0.0.1 (the installed command, in its own
process) and a real browser (Debian's chromium driven by Playwright; never a downloaded browser)."""

from __future__ import annotations

import http.client
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from live_server import CHROMIUM, CHROMIUM_ARGS, served, watch
from PIL import Image


def resident_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


# -> (Browser, Page)
def upload_in_browser(playwright, url: str, photo: Path, problems: list[str], *, width: int):
    """Chromium on the app's page (problems watched), ``photo`` chosen in its file input."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": width, "height": 800})
    watch(page, problems)
    page.goto(url + "/")
    page.wait_for_selector("#model option", state="attached")
    page.set_input_files("#files", str(photo))
    return browser, page


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen]]:
    with served("--max-upload-mb", "5", log=tmp_path_factory.mktemp("serve") / "serve.log") as running:
        yield running


def test_a_200_mb_body_is_refused_while_it_streams(server: tuple[str, subprocess.Popen]) -> None:
    url, process = server
    before = resident_kib(process.pid)
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    connection.putrequest("POST", "/api/colorize")
    connection.putheader("Content-Type", "multipart/form-data; boundary=xyz")
    # no length announced: the limit must hold as it streams
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    chunk = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n' + b"\0" * (
        1 << 20
    )
    sent = 0
    try:
        while sent < 200 << 20:
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    except OSError:
        pass  # the server stopped reading: what it should do
    answer = connection.getresponse()
    assert answer.status == 413 and "limit" in json.loads(answer.read())["error"]
    grown = resident_kib(process.pid) - before
    assert grown < 60_000, f"the server's resident memory grew by {grown} KiB"
    with urllib.request.urlopen(url + "/api/health", timeout=5) as health:
        assert json.load(health)["status"] == "ok"


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_upload_see_change_the_temperature_and_download_in_a_browser(
    server: tuple[str, subprocess.Popen], photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    url, _ = server
    photo = tmp_path / "chelsea grey.jpg"
    Image.fromarray(photos["chelsea"]).convert("L").resize((256, 170)).save(photo, quality=92)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser, page = upload_in_browser(playwright, url, photo, problems, width=1000)
        after = page.locator(".card .after")
        page.wait_for_function(
            "() => { const i = document.querySelector('.card .after'); "
            "return i && i.complete && i.naturalWidth > 0 && i.src.includes('temperature'); }"
        )
        first = after.get_attribute("src")
        first_pixels = page.request.get(url + first).body()
        page.locator("#temperature").fill("0.05")
        page.wait_for_function(
            "() => { const i = document.querySelector('.card .after'); "
            "return i.complete && i.src.includes('temperature=0.05'); }"
        )
        second_pixels = page.request.get(url + after.get_attribute("src")).body()
        assert second_pixels != first_pixels  # the preview changed with the temperature
        page.locator(".card .split").fill("20")
        page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
        with page.expect_download() as download:
            page.locator(".card .download").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        browser.close()
    assert saved.name == "chelsea grey-colour.png"
    assert Image.open(saved).size == Image.open(photo).size
    assert (tmp_path / "serve.png").stat().st_size > 10_000
    assert problems == [], problems


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_pages_download_is_what_the_command_line_makes(
    server: tuple[str, subprocess.Popen], photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """The page starts at the model's own temperature (the bundled default's 1.1, past the old 0-1 slider) and
    its download is ``chromalab colorize``'s output for the same photo, to float rounding."""
    from conftest import CHROMALAB
    from playwright.sync_api import sync_playwright

    url, _ = server
    photo = tmp_path / "astronaut.png"
    Image.fromarray(photos["astronaut"]).convert("L").resize((200, 200)).save(photo)
    models = json.load(urllib.request.urlopen(url + "/api/models", timeout=30))
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser, page = upload_in_browser(playwright, url, photo, problems, width=1000)
        page.wait_for_function(
            "() => { const i = document.querySelector('.card .after'); "
            "return i && i.complete && i.naturalWidth > 0; }"
        )
        slider = page.locator("#temperature")
        assert float(slider.input_value()) == models[0]["temperature"] == 1.1
        assert float(slider.get_attribute("max")) >= max(model["temperature"] for model in models)
        assert page.locator("#about").inner_text() == models[0]["about"] and "below" not in models[0]["about"]
        assert page.locator(".card .hint-editor").is_hidden()  # until the Hints button is pressed
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        with page.expect_download() as download:
            page.locator(".card .download").click()
        saved = tmp_path / "page.png.download.png"
        download.value.save_as(saved)
        browser.close()
    assert problems == [], problems
    done = subprocess.run(
        [str(CHROMALAB), "colorize", str(photo), "-o", str(tmp_path / "cli")],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    page_pixels = np.asarray(Image.open(saved).convert("RGB"), dtype=int)
    cli_pixels = np.asarray(Image.open(tmp_path / "cli" / "astronaut.png").convert("RGB"), dtype=int)
    assert page_pixels.shape == cli_pixels.shape
    close = (np.abs(page_pixels - cli_pixels).max(axis=2) <= 2).mean()
    assert close >= 0.999, f"only {close:.4%} of the pixels within 2 code values"


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_drop_pick_drag_and_remove_a_hint_in_a_browser(
    server: tuple[str, subprocess.Popen], photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    url, _ = server
    photo = tmp_path / "coffee.png"
    Image.fromarray(photos["coffee"]).convert("L").resize((240, 160)).save(photo)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser, page = upload_in_browser(playwright, url, photo, problems, width=800)
        page.wait_for_function(
            "() => { const i = document.querySelector('.card .after'); "
            "return i && i.complete && i.naturalWidth > 0 && i.src.includes('v=0'); }"
        )
        page.locator(".card .hints-toggle").click()
        controls = page.locator(".card .hint-controls")
        assert controls.is_hidden()  # no hint yet: nothing for its colour and remove controls to act on
        compare = page.locator(".card .compare")
        box = compare.bounding_box()
        with page.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/hints")) as dropped:
            compare.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.5})
        sent = json.loads(dropped.value.post_data)["hints"]
        assert len(sent) == 1 and abs(sent[0]["x"] - 60) <= 1 and abs(sent[0]["y"] - 80) <= 1
        page.wait_for_selector(".card .swatch")  # the network's likeliest colours at that point
        assert page.locator(".card .hint").count() == 1 and controls.is_visible()
        page.wait_for_function("() => document.querySelector('.card .after').src.includes('v=1')")
        with page.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/hints")) as picked:
            page.locator(".card .hint-colour").evaluate(
                "(input) => { input.value = '#1040ff'; input.dispatchEvent(new Event('change')); }"
            )
        assert json.loads(picked.value.post_data)["hints"][0]["color"] == "#1040ff"
        page.wait_for_function(
            "() => { const i = document.querySelector('.card .after'); "
            "return i.complete && i.src.includes('v=2'); }"
        )
        blue = np.asarray(
            Image.open(
                __import__("io").BytesIO(
                    page.request.get(url + page.locator(".card .after").get_attribute("src")).body()
                )
            ).convert("RGB")
        )
        near = blue[75:86, 55:66].astype(int).mean(axis=(0, 1))  # preview pixels around the hint
        assert near[2] > near[0] + 10, f"the hint's blue did not arrive: {near}"
        marker = page.locator(".card .hint")
        start = marker.bounding_box()
        with page.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/hints")) as dragged:
            page.mouse.move(start["x"] + 8, start["y"] + 8)
            page.mouse.down()
            page.mouse.move(start["x"] + 8 + box["width"] * 0.5, start["y"] + 8, steps=5)
            page.mouse.up()
        moved = json.loads(dragged.value.post_data)["hints"]
        assert len(moved) == 1 and moved[0]["x"] > 150
        with page.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/hints")) as removed:
            page.locator(".card .hint-remove").click()
        assert json.loads(removed.value.post_data)["hints"] == []
        assert page.locator(".card .hint").count() == 0 and controls.is_hidden()
        browser.close()
    assert problems == [], problems


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_colour_from_a_reference_photo_on_a_card(
    server: tuple[str, subprocess.Popen], photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """A card's 'colour from a reference photo': the matched share shown and the preview changed; a broken
    file is one line on the card and the reference stays; the remove button (by keyboard) gives back the
    automatic preview."""
    import io

    from playwright.sync_api import sync_playwright

    url, _ = server
    truth = Image.fromarray(photos["astronaut"]).resize((128, 128), Image.Resampling.LANCZOS)
    photo, reference, broken = tmp_path / "astronaut.png", tmp_path / "colour.png", tmp_path / "broken.jpg"
    truth.convert("L").save(photo)
    truth.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(reference)
    buffer = io.BytesIO()
    truth.save(buffer, format="JPEG")
    broken.write_bytes(buffer.getvalue()[:300])  # a truncated JPEG
    problems: list[str] = []
    loaded = "() => { const i = document.querySelector('.card .after'); return i && i.complete && i.naturalWidth > 0 && i.src.includes('v=%d'); }"  # noqa: E501
    with sync_playwright() as playwright:
        browser, page = upload_in_browser(playwright, url, photo, problems, width=1000)
        after, shown = page.locator(".card .after"), page.locator(".card .reference-state")
        page.wait_for_function(loaded % 0)
        automatic = page.request.get(url + after.get_attribute("src")).body()
        with page.expect_response(
            lambda r: r.request.method == "PUT" and r.url.endswith("/reference")
        ) as put:
            page.set_input_files(".card .reference-file", str(reference))
        share = put.value.json()["matched_share"]
        page.wait_for_function(loaded % 1)
        assert shown.inner_text() == f"colour.png: {round(100 * share)}% of the photo matched" and share > 0.5
        guided = page.request.get(url + after.get_attribute("src")).body()
        assert guided != automatic  # the preview changed with the reference
        page.set_input_files(".card .reference-file", str(broken))
        page.wait_for_selector(".card .reference-state.error")
        message = shown.inner_text()
        assert (
            message.startswith("Reference not taken: reference: truncated or corrupt image")
            and "\n" not in message
        )
        assert message.endswith("(still colour.png)") and page.locator(".card .reference-remove").is_visible()
        page.locator(".card .reference-remove").focus()
        page.keyboard.press("Enter")
        page.wait_for_function(loaded % 2)
        assert page.request.get(url + after.get_attribute("src")).body() == automatic
        assert page.locator(".card .reference-remove").is_hidden() and shown.inner_text() == ""
        assert page.evaluate("() => document.activeElement.classList.contains('reference-file')")
        browser.close()
    # the broken file's answer is the one problem (chromium logs a 4xx response as a console error)
    assert [problem for problem in problems if "status of 400" not in problem] == [], problems
    assert len(problems) == 1, problems
