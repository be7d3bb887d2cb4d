"""Slow clients against a real ``chromalab serve`` (its own process, on 127.0.0.1): headers that trickle
are cut off after the header timeout, bodies that trickle after the body's grace (408), and no more than
the server's receiving slots are held at once, and no more than its share by one address (503 beyond); a
body that stalls is cut off after the grace however much it sent. Measured in what the server answers and
holds, with generous bounds: the clients would trickle for minutes."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest
from live_server import served
from test_serve_browser import resident_kib

from chromalab.serve.settings import ServeSettings

DEFAULTS = ServeSettings()
TRICKLE_S = 180  # how long each client would go on
# the server must have cut every one off by then (10 s of headers; a body: 20 s of grace, then
CUT_BOUND_S = 90
# 50 kB/s on average: the 0.5 MB sent at once buys 10 s more)


def health(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/health", timeout=30) as answer:
        return json.load(answer)


def connect(url: str, source: str | None = None) -> socket.socket:
    """A non-blocking connection to the server, from the loopback address ``source`` (None: the default)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection(
        (host, int(port)), timeout=30, source_address=None if source is None else (source, 0)
    )
    sock.setblocking(False)
    return sock


def closed_or_answered(sock: socket.socket) -> bytes | None:
    """What the server sent, b'' once it closed; None while it says nothing."""
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""
    return data


def trickle(socks: dict[socket.socket, bytes], byte: bytes) -> dict[socket.socket, bytes]:
    """One byte more on every open socket until each is closed or answered (or ``TRICKLE_S``); socket ->
    answer."""
    answers: dict[socket.socket, bytes] = {}
    start = time.monotonic()
    while len(answers) < len(socks) and time.monotonic() - start < TRICKLE_S:
        for sock in socks:
            if sock in answers:
                continue
            got = closed_or_answered(sock)
            if got is not None:
                answers[sock] = got
                continue
            try:
                sock.send(byte)
            except OSError:
                answers[sock] = b""
        time.sleep(1.0)
    return answers | {sock: b"still open" for sock in socks if sock not in answers}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with served(log=tmp_path_factory.mktemp("serve") / "serve.log") as running:
        yield running


def test_trickling_headers_are_cut_off(server) -> None:
    url, _ = server
    socks = {connect(url): b"" for _ in range(10)}
    for sock in socks:
        sock.send(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    start = time.monotonic()
    answers = trickle(socks, b"a")
    assert time.monotonic() - start < CUT_BOUND_S
    assert all(answer == b"" for answer in answers.values()), answers  # closed, never answered
    assert health(url)["status"] == "ok"


def test_trickling_bodies_are_cut_off_and_only_a_few_are_received_at_once(server) -> None:
    url, process = server
    before = resident_kib(process.pid)
    declared = 45_000_000
    head = (
        f"POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
        f"boundary=xyz\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    first = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n' + b"\0" * 500_000
    )
    socks = {}
    for index in range(DEFAULTS.receiving):  # from a few addresses: one address holds at most its share
        sock = connect(url, source=f"127.0.0.{2 + index // DEFAULTS.receiving_per_client}")
        sock.setblocking(True)
        sock.sendall(head + first)
        sock.setblocking(False)
        socks[sock] = b""
    deadline = time.monotonic() + 60
    while health(url)["receiving"] < DEFAULTS.receiving and time.monotonic() < deadline:
        time.sleep(0.2)
    assert health(url)["receiving"] == DEFAULTS.receiving
    one_more = urllib.request.Request(
        url + "/api/uploads",
        data=b"x",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(one_more, timeout=30)
    assert refused.value.code == 503 and "receiving" in json.load(refused.value)["error"]
    held = resident_kib(process.pid) - before
    assert held < 100_000  # KiB: the 0.5 MB each sent, not the 45 MB each declared
    start = time.monotonic()
    answers = trickle(socks, b"\0")
    assert time.monotonic() - start < CUT_BOUND_S
    assert all(b" 408 " in answer.split(b"\r\n", 1)[0] for answer in answers.values()), answers
    assert health(url)["receiving"] == 0
    for sock in socks:
        sock.close()


def test_one_address_holds_only_its_share_and_a_stalled_body_is_cut_off(server) -> None:
    url, _ = server
    declared = 45_000_000
    head = (
        f"POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
        f"boundary=xyz\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    first = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'
        + b"\0" * 2_000_000
    )
    socks = []
    for _ in range(DEFAULTS.receiving_per_client + 1):
        sock = connect(url, source="127.0.0.9")
        sock.setblocking(True)
        sock.sendall(head + first)  # 2 MB at once, then nothing: by the average alone, 60 s more to stall on
        socks.append(sock)
    start = time.monotonic()
    answers = []
    for sock in socks:
        sock.settimeout(CUT_BOUND_S)
        answers.append(sock.recv(65536).split(b"\r\n", 1)[0])
        sock.close()
    # the one beyond the address's share at once, the others once they stalled for the grace (not 60 s more)
    assert sorted(answers) == sorted(
        [b"HTTP/1.1 408 Request Timeout"] * DEFAULTS.receiving_per_client
        + [b"HTTP/1.1 503 Service Unavailable"]
    ), answers
    assert time.monotonic() - start < DEFAULTS.body_grace_s + 15
    assert health(url)["receiving"] == 0
