"""``chromalab serve``'s API in process (FastAPI's TestClient): every status, real photos, the bounded pool
and store, the token, and random bytes that never make the server fail."""

from __future__ import annotations

import io
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from chromalab.colorize.hint_session import HintSession
from chromalab.colorize.torch_backend import Colorizer
from chromalab.images import Lightness
from chromalab.serve.settings import ServeSettings
from chromalab.serve.uploads import Upload, UploadStore, attachment, safe_stem

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette announces a move of its test client to another package
    from fastapi.testclient import TestClient

from chromalab.serve.app import create_app

LIMITS = ServeSettings(max_upload_mb=2.0, max_megapixels=1.0, workers=1, queue=2, preview_side=48)


def encoded(rgb: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt)
    return buffer.getvalue()


def pixels(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB"), dtype=int)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(LIMITS), base_url="http://localhost") as test_client:
        yield test_client


def post(client: TestClient, path: str, content: bytes | None, name: str = "photo.png", **fields: str):
    files = None if content is None else {"file": (name, content, "application/octet-stream")}
    return client.post(path, files=files, data=fields)


def test_health(client: TestClient) -> None:
    answer = client.get("/api/health")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_colorize_returns_the_photo_at_its_size_as_colorize_makes_it(
    client: TestClient, photos: dict[str, np.ndarray]
) -> None:
    grey = np.asarray(Image.fromarray(photos["chelsea"]).convert("L"))
    for fmt, media in (("png", "image/png"), ("jpeg", "image/jpeg")):
        answer = post(client, "/api/colorize", encoded(grey), temperature="0.3", format=fmt)
        assert answer.status_code == 200 and answer.headers["content-type"] == media
        assert Image.open(io.BytesIO(answer.content)).size == (grey.shape[1], grey.shape[0])
    # the same model in this process: equal up to the network's float rounding on another thread count
    expected = np.asarray(
        Colorizer.load("default").colorize(Image.fromarray(grey), temperature=0.3), dtype=int
    )
    got = pixels(post(client, "/api/colorize", encoded(grey), temperature="0.3").content)
    assert np.abs(got - expected).max() <= 2 and (got != expected).mean() < 0.01


def test_upload_preview_and_download(client: TestClient, photos: dict[str, np.ndarray]) -> None:
    data = encoded(photos["coffee"], "JPEG")
    kept = post(client, "/api/uploads", data, name="../../etc/my coffee;.jpg").json()
    assert kept["width"] == 64 and kept["classification"] and kept["name"] == "my coffee_"
    previews = {
        t: client.get(f"/api/uploads/{kept['id']}/preview", params={"temperature": t}) for t in (0.05, 1.0)
    }
    assert all(answer.status_code == 200 for answer in previews.values())
    vivid, muted = (pixels(answer.content) for answer in previews.values())
    assert max(vivid.shape[:2]) == LIMITS.preview_side  # shrunk to the preview side

    def spread(rgb: np.ndarray) -> float:  # how far from grey
        return float(rgb.std(axis=2).mean())

    assert spread(vivid) > spread(muted) > 0  # a colder temperature is more vivid, without the network again
    grey = pixels(client.get(f"/api/uploads/{kept['id']}/preview", params={"grey": "true"}).content)
    assert np.abs(grey[..., 0] - grey[..., 2]).max() <= 2  # grey (JPEG rounding aside)
    download = client.get(f"/api/uploads/{kept['id']}/download", params={"temperature": 0.3})
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"my coffee_-colour.png\"; filename*=UTF-8''my%20coffee_-colour.png"
    )
    direct = post(client, "/api/colorize", data, temperature="0.3")  # one network run, two paths: identical
    np.testing.assert_array_equal(pixels(download.content), pixels(direct.content))
    twin = post(client, "/api/uploads", data, name="my coffee;.jpg").json()  # another upload, the same name
    ids = f"{kept['id']},{twin['id']},{kept['id']}"  # an id given twice is zipped once
    archive = client.get("/api/download.zip", params={"ids": ids, "format": "jpeg"})
    import zipfile

    assert zipfile.ZipFile(io.BytesIO(archive.content)).namelist() == [
        "my coffee_-colour.jpg",
        "my coffee_-colour-2.jpg",
    ]
    assert archive.headers["x-missing-uploads"] == "0"
    assert client.delete(f"/api/uploads/{kept['id']}").json() == {"removed": True}
    assert client.get(f"/api/uploads/{kept['id']}/preview").status_code == 404
    # an upload gone (expired, pushed out, removed) leaves the others in the zip, and is counted
    archive = client.get("/api/download.zip", params={"ids": f"{kept['id']},{twin['id']}"})
    assert archive.status_code == 200 and archive.headers["x-missing-uploads"] == "1"
    assert zipfile.ZipFile(io.BytesIO(archive.content)).namelist() == ["my coffee_-colour.png"]
    assert client.get("/api/download.zip", params={"ids": kept["id"]}).status_code == 404  # none kept


def truncated_jpeg(rgb: np.ndarray) -> bytes:
    data = encoded(rgb, "JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("content", "fields", "status", "words"),
    [
        (None, {}, 400, "multipart"),
        (b"", {}, 400, "empty"),
        ("truncated", {}, 400, "truncated or corrupt"),
        ("photo", {"temperature": "hot"}, 400, "temperature"),
        ("photo", {"temperature": "11"}, 400, "temperature"),
        ("photo", {"size": "8"}, 400, "size"),
        ("photo", {"format": "gif"}, 400, "format"),
        ("photo", {"model": "nothing"}, 400, "unknown model"),
        (b"%PDF-1.4 a document, not a photo", {}, 415, "not an image"),
        ("bomb", {}, 413, "megapixel"),
        ("huge", {}, 413, "byte limit"),
    ],
)
def test_every_failure_is_one_json_error_with_its_status(
    client: TestClient, photo: np.ndarray, png, content, fields: dict, status: int, words: str
) -> None:
    content = {
        "truncated": lambda: truncated_jpeg(photo),
        "photo": lambda: encoded(photo),
        "bomb": lambda: png(2000, 2000, color_type=2),
        "huge": lambda: b"\0" * 3_000_000,
    }.get(content, lambda: content)()
    answer = (
        post(client, "/api/colorize", content, **fields)
        if content is not None
        else client.post("/api/colorize", data=fields)
    )
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"error"} and words in answer.json()["error"], answer.json()


def test_a_full_pool_answers_503_and_health_still_answers(client: TestClient, photo: np.ndarray) -> None:
    server = client.app.state.server
    gate = threading.Event()
    holders = [client.portal.start_task_soon(server.pool.run, gate.wait) for _ in range(LIMITS.queue)]
    try:
        deadline = time.monotonic() + 10
        while server.pool.taken < LIMITS.queue and time.monotonic() < deadline:
            time.sleep(0.01)
        answer = post(client, "/api/colorize", encoded(photo))
        assert answer.status_code == 503 and "busy" in answer.json()["error"]
        assert client.get("/api/health").json()["in_work"] == LIMITS.queue
    finally:
        gate.set()
        for holder in holders:
            holder.result(timeout=10)
    assert post(client, "/api/colorize", encoded(photo)).status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4096), st.sampled_from(["photo.png", "photo.jpg", "x", "../../x.gif"]))
def test_random_bytes_never_make_a_server_error(client: TestClient, content: bytes, name: str) -> None:
    answer = post(client, "/api/colorize", content, name=name)
    assert answer.status_code in (200, 400, 413, 415), answer.text
    assert answer.status_code == 200 or "error" in answer.json()


def test_random_prefix_of_a_real_photo_never_makes_a_server_error(
    client: TestClient, photo: np.ndarray
) -> None:
    data = encoded(photo, "JPEG")
    for end in range(0, len(data), max(1, len(data) // 40)):
        assert post(client, "/api/colorize", data[:end]).status_code in (200, 400, 415)


def test_the_token_is_needed_on_every_request(photo: np.ndarray) -> None:
    with TestClient(
        create_app(ServeSettings(token="s3cret", preview_side=48)), base_url="http://localhost"
    ) as guarded:
        assert guarded.get("/api/health").status_code == 401
        assert guarded.get("/").status_code == 401
        assert guarded.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert guarded.get("/?token=wrong").status_code == 401
        page = guarded.get("/?token=s3cret")  # the page's address sets a cookie for its own requests
        assert page.status_code == 200 and "chromalab_token" in page.headers["set-cookie"]
        assert guarded.get("/static/app.js").status_code == 200
        # the cookie again
        uploaded = guarded.post("/api/colorize", files={"file": ("p.png", encoded(photo))})
        assert uploaded.status_code == 200
        guarded.cookies.clear()
        assert guarded.post("/api/colorize", files={"file": ("p.png", encoded(photo))}).status_code == 401


def test_the_server_writes_only_in_its_own_folder_and_removes_it(photo: np.ndarray) -> None:
    with TestClient(create_app(ServeSettings(preview_side=48)), base_url="http://localhost") as own:
        folder = own.app.state.server.folder
        kept = post(own, "/api/uploads", encoded(photo)).json()
        assert [p.parent for p in folder.iterdir()] == [folder] and len(list(folder.iterdir())) == 1
        assert kept["id"]
    assert not folder.exists()


def test_the_store_is_bounded_and_uploads_expire(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights: only the sizes of its answers matter here
        colorizer = Colorizer.untrained("tiny")
    grey = Lightness(np.full((32, 32), 50.0, np.float32), None)

    def upload(number: int) -> Upload:
        original = tmp_path / f"{number}.upload"
        original.write_bytes(b"x")
        return Upload("tiny", f"u{number}", 32, 32, HintSession(colorizer, grey), grey, original)

    each = upload(0).nbytes
    store = UploadStore(tmp_path, max_bytes=2 * each, ttl=3600)
    first, second, third = upload(1), upload(2), upload(3)
    for one in (first, second):
        store.add(one)
    store.get(first.id)  # used: the second is now the least recently used
    store.add(third)
    assert len(store) == 2 and not second.original.exists() and first.original.exists()
    with pytest.raises(KeyError):
        store.get(second.id)
    store.get(first.id)
    first.session.set_hints([])  # the hint editor opens: the photo's spreading system is kept
    assert first.nbytes > each
    store.refit()
    assert len(store) == 1 and not third.original.exists() and first.original.exists()
    store.ttl = 0.0
    assert store.expire() == 1 and len(store) == 0 and not first.original.exists()


def test_download_names_are_safe() -> None:
    assert safe_stem("../../etc/passwd") == "passwd"
    assert safe_stem("a<b>|c.jpg") == "a_b_c"
    assert safe_stem(None) == safe_stem("") == safe_stem("...") == "photo"
    assert safe_stem('фото 日本 "1"\r\n.png') == "фото 日本 _1_"  # any script's letters; no quote, no CR/LF
    header = attachment("фото-colour.png")  # the name for browsers (UTF-8), its ASCII letters for the others
    utf8 = "%D1%84%D0%BE%D1%82%D0%BE-colour.png"
    assert header == f"attachment; filename=\"____-colour.png\"; filename*=UTF-8''{utf8}"
    assert header.encode("latin-1")  # a header's bytes


def test_hints_change_the_upload_and_bad_hints_are_one_error(
    client: TestClient, photos: dict[str, np.ndarray]
) -> None:
    grey = np.asarray(Image.fromarray(photos["coffee"]).convert("L"))  # 64 x 43
    kept = post(client, "/api/uploads", encoded(grey)).json()
    route = f"/api/uploads/{kept['id']}/hints"
    before = pixels(client.get(f"/api/uploads/{kept['id']}/preview").content)
    answer = client.put(
        route, json={"hints": [{"x": 20, "y": 20, "color": "#2050ff"}, {"x": 50, "y": 30, "ab": [60, 40]}]}
    )
    assert answer.status_code == 200 and [h["x"] for h in answer.json()["hints"]] == [20, 50]
    after = pixels(client.get(f"/api/uploads/{kept['id']}/preview").content)
    # bluer at the hint
    assert after[20, 20, 2] - after[20, 20, 0] > before[20, 20, 2] - before[20, 20, 0] + 10
    download = pixels(client.get(f"/api/uploads/{kept['id']}/download").content)
    assert download[20, 20, 2] > download[20, 20, 0] + 10  # the download has the hints too
    cleared = client.put(route, json={"hints": []})
    assert cleared.status_code == 200
    assert np.array_equal(pixels(client.get(f"/api/uploads/{kept['id']}/preview").content), before)
    for body, status, words in (
        (b"{", 400, "not JSON"),
        (b'{"hint": []}', 400, "expected"),
        (b'{"hints": [{"x": 64, "y": 0, "color": "#ffffff"}]}', 400, "outside the 64x43"),
        (b'{"hints": [{"x": 1, "y": 1, "color": "blue"}]}', 400, "hex"),
        (b"[" * 300_000, 413, "limit"),
        (b"[" * 5000, 400, "nested too deeply"),
        (b'{"hints": [' + b"[" * 5000 + b"]}", 400, "nested too deeply"),
    ):
        refused = client.put(route, content=body)
        assert refused.status_code == status and words in refused.json()["error"], refused.json()
    assert client.put("/api/uploads/nope/hints", json={"hints": []}).status_code == 404


def put_reference(client: TestClient, upload_id: str, content: bytes, name: str = "colour.png"):
    return client.put(
        f"/api/uploads/{upload_id}/reference", files={"file": (name, content, "application/octet-stream")}
    )


def test_a_reference_photo_brings_its_colours_until_it_is_removed(
    client: TestClient, photos: dict[str, np.ndarray]
) -> None:
    from chromalab.evaluation.metrics import psnr

    truth = photos["astronaut"]  # 64 x 64: an 8 x 8 grid of cells
    grey = np.asarray(Image.fromarray(truth).convert("L"))
    kept = post(client, "/api/uploads", encoded(grey)).json()
    route = f"/api/uploads/{kept['id']}"

    def download() -> np.ndarray:
        return pixels(client.get(route + "/download").content)

    automatic = download()
    mirrored = np.ascontiguousarray(truth[:, ::-1])  # the truth, seen otherwise: the colours must be matched
    answer = put_reference(client, kept["id"], encoded(mirrored))
    assert answer.status_code == 200 and answer.json()["matched_share"] > 0.5, answer.text  # measured 0.81
    guided = download()
    # measured: the automatic colours 18.8 dB from the truth, the reference's 24.2 (+5.4 dB at this size)
    assert psnr(guided, truth) > psnr(automatic, truth) + 2.0
    previews = [client.get(route + "/preview", params={"temperature": t, "v": 1}).content for t in (0.2, 1.4)]
    assert previews[0] != previews[1]  # a temperature after the reference still re-decodes
    # hints go with the reference: what ``colorize --reference --hints`` makes of the same photo
    hints = [{"x": 10, "y": 50, "color": "#2050ff"}]
    assert client.put(route + "/hints", json={"hints": hints}).status_code == 200
    expected = Colorizer.load("default").colorize(Image.fromarray(grey), reference=mirrored, hints=hints)
    both = download()
    assert np.abs(both - np.asarray(expected, dtype=int)).max() <= 2
    assert client.put(route + "/hints", json={"hints": []}).status_code == 200
    # a grey reference has no colour to give: exactly the automatic colours (it replaces the last one)
    flat = put_reference(client, kept["id"], encoded(np.repeat(grey[..., None], 3, axis=2)))
    assert flat.json() == {"matched_share": 0.0} and np.array_equal(download(), automatic)
    assert put_reference(client, kept["id"], encoded(mirrored)).status_code == 200
    assert client.delete(route + "/reference").json() == {"removed": True}
    assert np.array_equal(download(), automatic)
    assert client.delete(route + "/reference").json() == {"removed": False}


def test_a_bad_reference_is_one_error_and_the_upload_keeps_its_colours(
    client: TestClient, photos: dict[str, np.ndarray], png
) -> None:
    truth = photos["astronaut"]
    kept = post(client, "/api/uploads", encoded(np.asarray(Image.fromarray(truth).convert("L")))).json()
    assert put_reference(client, kept["id"], encoded(np.ascontiguousarray(truth[:, ::-1]))).status_code == 200
    guided = pixels(client.get(f"/api/uploads/{kept['id']}/download").content)
    for content, status, words in (
        (truncated_jpeg(truth), 400, "reference: truncated or corrupt"),
        (b"%PDF-1.4 a document, not a photo", 415, "reference: not an image"),
        (png(2000, 2000, color_type=2), 413, "megapixel"),
        (b"\0" * 3_000_000, 413, "byte limit"),
    ):
        refused = put_reference(client, kept["id"], content)
        assert refused.status_code == status and set(refused.json()) == {"error"}, refused.text
        assert words in refused.json()["error"] and "\n" not in refused.json()["error"]
        assert np.array_equal(pixels(client.get(f"/api/uploads/{kept['id']}/download").content), guided)
    no_file = client.put(f"/api/uploads/{kept['id']}/reference", data={"model": "default"})
    assert no_file.status_code == 400 and "multipart" in no_file.json()["error"]
    assert put_reference(client, "nope", encoded(truth)).status_code == 404
    assert client.delete("/api/uploads/nope/reference").status_code == 404
    fast = post(client, "/api/uploads", encoded(truth), model="fast-v1").json()  # no encoder maps to match
    refused = put_reference(client, fast["id"], encoded(truth))
    assert refused.status_code == 400 and "encoder features" in refused.json()["error"], refused.text


def test_the_palette_offers_the_networks_likeliest_colors(
    client: TestClient, photos: dict[str, np.ndarray]
) -> None:
    grey = np.asarray(Image.fromarray(photos["chelsea"]).convert("L"))
    kept = post(client, "/api/uploads", encoded(grey)).json()
    colors = client.get(f"/api/uploads/{kept['id']}/palette", params={"x": 10, "y": 10}).json()["colors"]
    shares = [color["p"] for color in colors]
    assert 2 <= len(colors) <= 6 and shares == sorted(shares, reverse=True) and sum(shares) <= 1.0
    assert all(len(color["color"]) == 7 and color["color"].startswith("#") for color in colors)
    centres = np.array([color["ab"] for color in colors])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)[np.triu_indices(len(colors), 1)]
    assert gaps.min() >= 12.0  # no two offered colours alike
    assert client.get(f"/api/uploads/{kept['id']}/palette", params={"x": 999, "y": 0}).status_code == 400


def test_the_catalogue_runs_the_default_on_either_engine_and_describes_it_the_same() -> None:
    """``--engine``: auto and onnx open the bundled graphs (one onnxruntime thread per photo, as the pool
    wants), torch its weights; the page is told the same either way."""
    pytest.importorskip("onnxruntime")
    from chromalab.colorize.onnx_backend import OnnxColorizer
    from chromalab.serve.catalogue import Catalogue

    opened = {engine: Catalogue(engine=engine) for engine in ("auto", "onnx", "torch")}
    assert isinstance(opened["auto"].colorizer(None), OnnxColorizer)
    assert isinstance(opened["onnx"].colorizer(None), OnnxColorizer)
    assert isinstance(opened["torch"].colorizer(None), Colorizer)
    assert opened["onnx"].about("default") == opened["torch"].about("default")
    assert isinstance(opened["onnx"].colorizer("fast-v1"), Colorizer)  # no graph of its own: torch
    with pytest.raises(ValueError, match="--engine"):
        ServeSettings(engine="gpu")


def test_the_web_app_gives_the_same_colours_on_either_engine(photos: dict[str, np.ndarray]) -> None:
    """An upload re-decoded at two temperatures (what the preview does, here at full size and lossless), then
    a hint change: the same photo on onnxruntime as on torch, within 2 code values on 99.9 % of pixels (the
    float rounding of two runtimes)."""
    pytest.importorskip("onnxruntime")
    grey = np.asarray(Image.fromarray(photos["astronaut"]).convert("L"))
    pictures: dict[str, list[np.ndarray]] = {}
    for engine in ("onnx", "torch"):
        with TestClient(create_app(ServeSettings(engine=engine)), base_url="http://localhost") as own:
            kept = post(own, "/api/uploads", encoded(grey)).json()
            route = f"/api/uploads/{kept['id']}"
            seen = [
                pixels(own.get(route + "/download", params={"temperature": t}).content) for t in (0.2, 1.4)
            ]
            seen.append(pixels(own.get(route + "/download").content))  # at the model's own temperature
            hints = {
                "hints": [{"x": 20, "y": 30, "color": "#d02020"}, {"x": 40, "y": 10, "color": "#2040ff"}]
            }
            assert own.put(route + "/hints", json=hints).status_code == 200
            seen.append(pixels(own.get(route + "/download").content))
            pictures[engine] = seen
    for on_onnx, on_torch in zip(pictures["onnx"], pictures["torch"], strict=True):
        assert on_onnx.shape == on_torch.shape == (*grey.shape, 3)
        assert (np.abs(on_onnx - on_torch) > 2).mean() <= 1e-3
    assert np.abs(pictures["onnx"][3] - pictures["onnx"][2]).max() > 20  # the hints changed the photo
