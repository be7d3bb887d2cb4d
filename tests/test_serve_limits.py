"""``chromalab serve`` against an attacker and a careless user, in process (FastAPI's TestClient): no single
request takes the machine (hints per photo, zips, view sizes, JSON bodies), another site cannot use the server
(Host and Origin), and every refusal says what was wrong in one line without the server's source."""

from __future__ import annotations

import io
import os
import subprocess
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import CHROMALAB
from PIL import Image

from chromalab.serve.app import create_app, remove_left_over_folders
from chromalab.serve.rendering import MAX_HINTS
from chromalab.serve.routes import MAX_ZIP_IDS
from chromalab.serve.settings import ServeSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette announces a move of its test client to another package
    from fastapi.testclient import TestClient

LIMITS = ServeSettings(
    max_upload_mb=2.0,
    max_megapixels=1.0,
    workers=1,
    queue=4,
    preview_side=48,
    allow_hosts=("photos.example",),
)


def encoded(rgb: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(LIMITS), base_url="http://localhost") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def uploaded(client: TestClient, photos: dict[str, np.ndarray]) -> dict:
    grey = np.asarray(Image.fromarray(photos["coffee"]).convert("L"))  # 64 x 43
    answer = client.post("/api/uploads", files={"file": ("coffee.png", encoded(grey))})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_hints_per_photo_are_limited(client: TestClient, uploaded: dict) -> None:
    route = f"/api/uploads/{uploaded['id']}/hints"
    rng = np.random.default_rng(0)
    hints = [
        {"x": int(x), "y": int(y), "ab": [20, -30]}
        for x, y in zip(rng.integers(0, 64, MAX_HINTS + 1), rng.integers(0, 43, MAX_HINTS + 1), strict=True)
    ]
    refused = client.put(route, json={"hints": hints})
    assert refused.status_code == 400 and f"at most {MAX_HINTS} hints" in refused.json()["error"], (
        refused.text
    )
    taken = client.put(route, json={"hints": hints[:MAX_HINTS]})
    assert taken.status_code == 200 and len(taken.json()["hints"]) == MAX_HINTS
    assert client.get(f"/api/uploads/{uploaded['id']}/preview").status_code == 200
    assert client.put(route, json={"hints": []}).status_code == 200


def test_a_zip_takes_each_id_once_and_a_bounded_number_and_streams(
    client: TestClient, uploaded: dict
) -> None:
    answer = client.get("/api/download.zip", params={"ids": ",".join([uploaded["id"]] * 40)})
    assert answer.status_code == 200 and "content-length" not in answer.headers  # streamed, not built whole
    assert zipfile.ZipFile(io.BytesIO(answer.content)).namelist() == ["coffee-colour.png"]
    many = ",".join(f"id{i}" for i in range(MAX_ZIP_IDS + 1))
    refused = client.get("/api/download.zip", params={"ids": many})
    assert refused.status_code == 400 and f"at most {MAX_ZIP_IDS}" in refused.json()["error"]


def test_the_view_size_is_bounded_and_the_store_counts_the_full_photo(
    client: TestClient, photo: np.ndarray
) -> None:
    data = encoded(photo)
    refused = client.post("/api/uploads", files={"file": ("p.png", data)}, data={"size": "4096"})
    assert refused.status_code == 400 and f"at most {LIMITS.max_size}" in refused.json()["error"], (
        refused.text
    )
    assert (
        client.post("/api/colorize", files={"file": ("p.png", data)}, data={"size": "1024"}).status_code
        == 400
    )
    kept = client.post(
        "/api/uploads", files={"file": ("p.png", data)}, data={"size": str(LIMITS.max_size)}
    ).json()
    upload = client.app.state.server.store.get(kept["id"])
    assert upload.nbytes >= 64 * 64 * 4 + upload.session.nbytes  # the full-resolution lightness is counted


@pytest.mark.parametrize(
    ("params", "field"), [({"x": "a", "y": "2"}, "x"), ({"y": "2"}, "x"), ({"x": "1"}, "y")]
)
def test_a_bad_query_field_is_named_without_the_servers_source(
    client: TestClient, uploaded: dict, params: dict, field: str
) -> None:
    answer = client.get(f"/api/uploads/{uploaded['id']}/palette", params=params)
    message = answer.json()["error"]
    assert answer.status_code == 400 and message.startswith(f"{field}: "), message
    assert ".py" not in message and "line" not in message and "{" not in message, message


def test_only_the_servers_own_host_names_are_answered(client: TestClient) -> None:
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "192.168.1.20:8000", "photos.example"):
        assert client.get("/api/health", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8000", "localhost.evil.example"):  # a rebound name: refused
        answer = client.get("/api/health", headers={"Host": host})
        assert answer.status_code == 421 and "--allow-host" in answer.json()["error"], host


def test_state_changing_requests_from_another_site_are_refused(client: TestClient, photo: np.ndarray) -> None:
    files = {"file": ("p.png", encoded(photo))}
    for origin in ("http://evil.example", "null", "http://localhost:9999", "https://localhost"):
        answer = client.post("/api/uploads", files=files, headers={"Origin": origin})
        assert answer.status_code == 403 and "another site" in answer.json()["error"], origin
    assert (
        client.post("/api/uploads", files=files, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    )
    assert client.post("/api/uploads", files=files, headers={"Origin": "http://localhost"}).status_code == 200
    # no Origin: not a browser on another site
    assert client.post("/api/uploads", files=files).status_code == 200
    assert client.get("/api/health", headers={"Origin": "http://evil.example"}).status_code == 200  # a read


def test_an_empty_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token"):
        ServeSettings(token="")
    if not CHROMALAB.is_file():
        pytest.skip(f"console script not installed at {CHROMALAB}")
    done = subprocess.run(
        [str(CHROMALAB), "serve", "--token", "", "--port", "0"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--token" in done.stderr, done.stderr


def test_a_killed_servers_folder_is_removed_at_the_next_start(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    left = tmp_path / f"chromalab-serve-{gone.pid}-abc123"
    ours = tmp_path / f"chromalab-serve-{os.getpid()}-def456"
    other = tmp_path / "chromalab-serve-notapid"
    for folder in (left, ours, other):
        folder.mkdir()
        (folder / "x.upload").write_bytes(b"x")
    assert remove_left_over_folders(tmp_path) == [left]
    assert not left.exists() and ours.exists() and other.exists()
