"""The limits of ``chromalab serve`` (issue 30), measured from outside: for each kind of request, the worst
one the limits still admit (its time and the server's resident-memory peak growth) and the refused one just
beyond.

    python bench/bench_serve_limits.py [--only hints,zip,size,study,enrol,slow]      (about 8 minutes)

1. **hints**: a 1-megapixel grey photo uploaded, 100 hints put (the limit) and its preview: seconds and peak
   growth; 101 hints refused (status, seconds).
2. **zip**: 101 distinct 1-megapixel uploads, then ``GET /api/download.zip`` (PNG) of the last 100 (refused
if the
   store, 512 MB, has dropped some), and of as many as it still holds: seconds, body bytes, members, peak
   growth;
   101 ids refused; 40 copies of one id and a URL of 6,000 ids (the issue's probe).
3. **size**: a 4096x4096 grey photo uploaded with ``size=512`` (the limit): seconds, peak growth, growth kept
   after; ``size=4096`` refused; the upload's full-resolution PNG download.
4. **study body**: 200 MB sent to ``POST /api/study/NAME/answer``, once with its ``Content-Length`` and once
   chunked (no length): bytes the client got sent and bytes the server's process read from its socket (sent,
   less what waits in either socket's queue, ``/proc/net/tcp``) before the refusal, its status and seconds.
5. **slow bodies**: 8 uploads of 45 MB sent but one kB, held in the 8 receiving slots: growth held, a ninth
upload
   (waits, then 503); then 8 bodies that stall or trickle, and 2 trickling headers: when each is cut off
   against
   the bound the stated rule gives (headers 10 s; a body 20 s + received / 50 kB/s).
6. **enrolment**: a study of 40 + 10 trials per participant; 400 new participants from one address (the
per-client
   limit: how many enrolled, how many 429), then enough forged participants from other loopback addresses to
   have
   400 enrolled; a real participant's enrolment time early and after the 400, and a real answer's time while
   one
   address floods.

The server's memory is that of its process: ``VmRSS`` before, ``VmHWM`` after (the peak is reset by writing
5 to ``/proc/PID/clear_refs`` before each measured request). Each kind runs on a fresh ``chromalab serve``
(the installed command, its own process, 127.0.0.1, a free port). Photos are synthetic (waves and noise,
numpy and Pillow). The machine is shared: the load average is stored with each kind. Writes
``bench/results/serve_limits.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

RESULTS = Path(__file__).parent / "results" / "serve_limits.json"
CHROMALAB = Path(sys.executable).parent / "chromalab"
KINDS = ("hints", "zip", "size", "study", "enrol", "slow")
MB = 1e6
# the stated limits (README, "chromalab serve"), to compare against
MAX_HINTS, MAX_ZIP_IDS, MAX_SIZE = 100, 100, 512
HEADER_TIMEOUT_S, BODY_GRACE_S, BODY_MIN_RATE = 10.0, 20.0, 50_000.0
RECEIVING, RECEIVING_WAIT_S, NEWCOMER_BURST = 8, 10.0, 60


def load() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------- photos


def grey_photo(width: int, height: int, seed: int, *, fmt: str = "JPEG") -> bytes:
    """A grey photo-like picture: a few waves, a gradient and noise."""
    rng = np.random.default_rng(seed)
    x = np.arange(width, dtype=np.float32)[None, :]
    y = np.arange(height, dtype=np.float32)[:, None]
    picture = (
        128
        + 50 * np.sin(x / rng.uniform(30, 90)) * np.cos(y / rng.uniform(40, 120))
        + 30 * (y / height - 0.5)
    )
    picture = picture + rng.normal(0, 10, (height, width)).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8), "L").save(
        buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {})
    )
    return buffer.getvalue()


def color_photo(side: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    x = np.arange(side, dtype=np.float32)[None, :, None]
    y = np.arange(side, dtype=np.float32)[:, None, None]
    phase = rng.uniform(0, 6.3, 3)[None, None, :]
    picture = 128 + 90 * np.sin(x / rng.uniform(10, 40) + phase) * np.cos(y / rng.uniform(10, 40) + phase)
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8), "RGB")


def multipart(data: bytes, **fields: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------- the server and its client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    """``chromalab serve --port P ARGS`` in its own process, ready once ``/api/health`` answers."""

    def __init__(self, *args: str, log: Path) -> None:
        self.port = free_port()
        with open(log, "w") as output:
            self.process = subprocess.Popen(
                [str(CHROMALAB), "serve", "--port", str(self.port), *args],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while True:
            try:
                if call(self.port, "GET", "/api/health", timeout=5).status == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the server did not start: {log.read_text()}")
            time.sleep(0.3)

    @property
    def pid(self) -> int:
        return self.process.pid

    def memory(self) -> dict[str, float]:
        """Resident memory now and its peak since the last ``reset_peak``, MB."""
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines()
        )
        return {
            "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
            "hwm_mb": int(fields["VmHWM"].split()[0]) / 1024,
        }

    def reset_peak(self) -> None:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def served(*args: str, log: Path) -> Iterator[Served]:
    server = Served(*args, log=log)
    try:
        yield server
    finally:
        server.close()


@dataclass
class Answer:
    status: int
    body: bytes
    nbytes: int
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)

    def error(self) -> str:
        try:
            return str(self.json().get("error", ""))[:120]
        except ValueError:
            return self.body[:120].decode("utf-8", "replace")


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    source: str = "127.0.0.1",
    timeout: float = 600,
    keep: bool = True,
) -> Answer:
    """One request on a new connection (from the loopback address ``source``), its answer read whole."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    start = time.perf_counter()
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        parts, nbytes = [], 0
        while data := response.read(1 << 20):
            nbytes += len(data)
            if keep:
                parts.append(data)
        return Answer(response.status, b"".join(parts), nbytes, time.perf_counter() - start)
    finally:
        connection.close()


def upload(server: Served, photo: bytes, **fields: str) -> Answer:
    body, content_type = multipart(photo, **fields)
    return call(server.port, "POST", "/api/uploads", body, {"Content-Type": content_type})


def measured(
    server: Served, action: Callable[[], object], *, settle_s: float = 0.0
) -> tuple[object, dict[str, float]]:
    """``action()`` and what it cost the server: seconds, peak growth of its resident memory (MB), growth kept
    ``settle_s`` seconds after."""
    before = server.memory()["rss_mb"]
    server.reset_peak()
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    peak = server.memory()["hwm_mb"]
    time.sleep(settle_s)
    after = server.memory()["rss_mb"]
    return result, {
        "seconds": round(seconds, 3),
        "rss_before_mb": round(before, 1),
        "peak_growth_mb": round(peak - before, 1),
        "kept_growth_mb": round(after - before, 1),
    }


def refused(answer: Answer) -> dict[str, object]:
    return {"status": answer.status, "seconds": round(answer.seconds, 3), "error": answer.error()}


# ---------------------------------------------------------------- 1. hints


def bench_hints(folder: Path) -> dict[str, object]:
    rng = np.random.default_rng(30)
    width = height = 1000

    def hints(count: int) -> bytes:
        return json.dumps(
            {
                "hints": [
                    {
                        "x": int(rng.integers(width)),
                        "y": int(rng.integers(height)),
                        "color": "#" + bytes(int(v) for v in rng.integers(0, 256, 3)).hex(),
                    }
                    for _ in range(count)
                ]
            }
        ).encode()

    with served(log=folder / "hints.log") as server:
        answer = upload(server, grey_photo(width, height, 1))
        assert answer.status == 200, answer.body
        upload_id = answer.json()["id"]
        plain = call(server.port, "GET", f"/api/uploads/{upload_id}/preview?temperature=0.5")
        body = hints(MAX_HINTS)
        json_header = {"Content-Type": "application/json"}

        def put_and_preview() -> tuple[Answer, Answer]:
            put = call(server.port, "PUT", f"/api/uploads/{upload_id}/hints", body, json_header)
            return put, call(server.port, "GET", f"/api/uploads/{upload_id}/preview?temperature=0.6")

        (put, preview), cost = measured(server, put_and_preview, settle_s=1.0)
        assert put.status == 200 and preview.status == 200, (put.body, preview.body)
        # a temperature change
        again = call(server.port, "GET", f"/api/uploads/{upload_id}/preview?temperature=0.4")
        beyond = call(
            server.port, "PUT", f"/api/uploads/{upload_id}/hints", hints(MAX_HINTS + 1), json_header
        )
    return {
        "photo": f"{width}x{height}",
        "hints": MAX_HINTS,
        "hints_body_bytes": len(body),
        "preview_without_hints_s": round(plain.seconds, 3),
        "put_hints_s": round(put.seconds, 3),
        "preview_s": round(preview.seconds, 3),
        "preview_again_s": round(again.seconds, 3),
        **cost,
        "refused_101": refused(beyond),
        "load": load(),
    }


# ---------------------------------------------------------------- 2. zip


def bench_zip(folder: Path) -> dict[str, object]:
    with served(log=folder / "zip.log") as server:
        photos = [grey_photo(1000, 1000, seed) for seed in range(MAX_ZIP_IDS + 1)]
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=3) as pool:
            answers = list(pool.map(lambda photo: upload(server, photo), photos))
        uploads_s = time.perf_counter() - start
        assert all(answer.status == 200 for answer in answers), [a.body for a in answers if a.status != 200][
            :1
        ]
        ids = [answer.json()["id"] for answer in answers]
        kept_uploads = call(server.port, "GET", "/api/health").json()["uploads"]
        # the last 100
        hundred = call(server.port, "GET", "/api/download.zip?format=png&ids=" + ",".join(ids[1:]))
        # the largest zip of distinct 1-MP uploads the server still holds (its store drops the least recently
        # used)
        wanted = ids[-min(kept_uploads, MAX_ZIP_IDS) :]
        path = "/api/download.zip?format=png&ids=" + ",".join(wanted)
        zipped, cost = measured(server, lambda: call(server.port, "GET", path), settle_s=1.0)
        members = len(zipfile.ZipFile(io.BytesIO(zipped.body)).namelist()) if zipped.status == 200 else 0
        result = {
            "uploads": len(ids),
            "uploads_s": round(uploads_s, 1),
            "uploads_kept_by_store": kept_uploads,
            "zip_of_last_100": refused(hundred) if hundred.status != 200 else {"status": 200},
            "zip_ids": len(wanted),
            "status": zipped.status,
            "body_mb": round(zipped.nbytes / MB, 1),
            "members": members,
            **cost,
        }
        beyond = call(server.port, "GET", "/api/download.zip?format=png&ids=" + ",".join(ids))
        copies, copies_cost = measured(
            server,
            lambda: call(server.port, "GET", "/api/download.zip?format=png&ids=" + ",".join([ids[-1]] * 40)),
        )
        long_url = call(server.port, "GET", "/api/download.zip?format=png&ids=" + ",".join([ids[-1]] * 6000))
        distinct_6000 = call(
            server.port,
            "GET",
            "/api/download.zip?format=png&ids=" + ",".join(f"x{k:07d}" for k in range(6000)),
        )
    copies_members = len(zipfile.ZipFile(io.BytesIO(copies.body)).namelist()) if copies.status == 200 else 0
    return result | {
        "refused_101": refused(beyond),
        "copies_40": {
            "status": copies.status,
            "members": copies_members,
            "body_mb": round(copies.nbytes / MB, 2),
            **copies_cost,
        },
        "url_6000_repeated_ids": {
            "status": long_url.status,
            "seconds": round(long_url.seconds, 3),
            "body_mb": round(long_url.nbytes / MB, 2),
            "url_kb": 17 * 6000 / 1000,
        },
        "url_6000_distinct_ids": refused(distinct_6000),
        "load": load(),
    }


# ---------------------------------------------------------------- 3. size


def bench_size(folder: Path) -> dict[str, object]:
    photo = grey_photo(4096, 4096, 2)
    with served(log=folder / "size.log") as server:
        answer, cost = measured(server, lambda: upload(server, photo, size=str(MAX_SIZE)), settle_s=2.0)
        assert answer.status == 200, answer.body
        beyond = upload(server, photo, size="4096")
        download, download_cost = measured(
            server,
            lambda: call(
                server.port, "GET", f"/api/uploads/{answer.json()['id']}/download?format=png", keep=False
            ),
            settle_s=1.0,
        )
    return {
        "photo": "4096x4096",
        "photo_mb": round(len(photo) / MB, 2),
        "size": MAX_SIZE,
        "status": answer.status,
        **cost,
        "refused_4096": refused(beyond),
        "download_png": {
            "status": download.status,
            "body_mb": round(download.nbytes / MB, 1),
            **download_cost,
        },
        "load": load(),
    }


# ---------------------------------------------------------------- 4. and 6. the study


def make_study(folder: Path) -> Path:
    """A study of 12 synthetic photos and one method (their grey versions): 10 practice and 40 counted
    trials."""
    truth, grey = folder / "truth", folder / "grey"
    for place in (truth, grey):
        place.mkdir(parents=True, exist_ok=True)
    for k in range(12):
        picture = color_photo(256, 100 + k)
        picture.save(truth / f"photo{k:02d}.png")
        picture.convert("L").convert("RGB").save(grey / f"photo{k:02d}.png")
    path = folder / "bench.sqlite"
    subprocess.run(
        [
            str(CHROMALAB),
            "study",
            "create",
            "bench",
            "--truth",
            str(truth),
            "--method",
            f"grey={grey}",
            "-o",
            str(path),
            "--show-ms",
            "0",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return path


def tcp_queues(port_a: int, port_b: int) -> tuple[int, int] | None:
    """(send queue, receive queue) in bytes of the IPv4 socket from local port ``port_a`` to remote ``port_b``
    (``/proc/net/tcp``), None when there is none."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port_a and int(fields[2].split(":")[1], 16) == port_b:
            tx, rx = fields[4].split(":")
            return int(tx, 16), int(rx, 16)
    return None


def big_body(server: Served, path: str, total: int, *, declared: bool) -> dict[str, object]:
    """Send ``total`` bytes to ``path`` (with its Content-Length, or chunked) until the server answers:
    bytes the client got sent, bytes the server's process read from its socket meanwhile (sent, less what
    waits in either socket's queue: the most of its samples), its status, seconds."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    mine = sock.getsockname()[1]
    length = f"Content-Length: {total}" if declared else "Transfer-Encoding: chunked"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: "
        f"application/json\r\n{length}\r\n\r\n"
    )
    piece = b" " * 65536
    frame = piece if declared else b"%x\r\n" % len(piece) + piece + b"\r\n"
    start = time.perf_counter()
    sock.sendall(head.encode())
    sock.setblocking(False)
    sent, read, reply, stop = 0, 0, b"", start + 120
    pending = memoryview(frame)
    while time.perf_counter() < stop:
        client_side, server_side = tcp_queues(mine, server.port), tcp_queues(server.port, mine)
        if client_side is not None and server_side is not None:
            read = max(read, len(head) + sent + len(frame) - len(pending) - client_side[0] - server_side[1])
        readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 1.0)
        if readable:
            try:
                reply = sock.recv(65536)
            except OSError as error:
                reply = f"({type(error).__name__})".encode()
            break
        if writable:
            try:
                count = sock.send(pending)
            except BlockingIOError:
                continue
            except OSError as error:
                reply = f"({type(error).__name__} while sending)".encode()
                break
            pending = pending[count:]
            if not pending:
                sent += len(frame)
                pending = memoryview(frame)
    seconds = time.perf_counter() - start
    sent += len(frame) - len(pending)
    sock.close()
    status_line = reply.split(b"\r\n", 1)[0].decode("latin-1")
    return {
        "declared_length": declared,
        "body_mb": total / MB,
        "answer": status_line,
        "client_sent_kb": round((len(head) + sent) / 1000, 1),
        "server_read_kb": round(read / 1000, 1),
        "seconds": round(seconds, 3),
    }


def bench_study(folder: Path) -> dict[str, object]:
    study = make_study(folder / "study-body")
    with served("--study", str(study), log=folder / "study.log") as server:
        path = "/api/study/bench/answer"
        results = {}
        for declared in (True, False):
            outcome, cost = measured(
                server, lambda declared=declared: big_body(server, path, 200_000_000, declared=declared)
            )
            results["with_length" if declared else "chunked"] = outcome | {
                "peak_growth_mb": cost["peak_growth_mb"]
            }
    return results | {"load": load()}


def participant(tag: str, number: int) -> str:
    return f"{tag}-{number:06d}"


def enrol(server: Served, who: str, source: str = "127.0.0.1") -> Answer:
    return call(server.port, "GET", f"/api/study/bench/next?participant={who}", source=source, timeout=60)


def bench_enrol(folder: Path) -> dict[str, object]:
    study = make_study(folder / "study-enrol")
    with served("--study", str(study), log=folder / "enrol.log") as server:
        early = [enrol(server, participant("early", k)) for k in range(10)]
        assert all(answer.status == 200 for answer in early), early[0].body
        start = time.perf_counter()
        flood = [enrol(server, participant("forged", k)) for k in range(400 - len(early))]
        flood_s = time.perf_counter() - start
        statuses = {
            str(code): sum(a.status == code for a in flood) for code in sorted({a.status for a in flood})
        }
        enrolled = len(early) + sum(a.status == 200 for a in flood)
        real_now = enrol(server, participant("real", 0))  # the same address, right after its flood
        waited_start = time.perf_counter()
        real_later = real_now
        while real_later.status == 429 and time.perf_counter() - waited_start < 10:
            time.sleep(0.2)
            real_later = enrol(server, participant("real", 0))
        waited = time.perf_counter() - waited_start
        enrolled += real_later.status == 200
        # the rest of the 400 forged participants from other loopback addresses (60 each, the burst)
        address, fill_start = 2, time.perf_counter()
        while enrolled < 401:
            answer = enrol(server, participant(f"fill{address}", enrolled), source=f"127.0.0.{address}")
            if answer.status == 429:
                address += 1
                continue
            assert answer.status == 200, answer.body
            enrolled += 1
        fill_s = time.perf_counter() - fill_start
        late = [enrol(server, participant("late", k), source=f"127.0.1.{k + 1}") for k in range(10)]
        assert all(answer.status == 200 for answer in late), late[0].body
        # a real participant answers while another address floods with forged ids
        flooding = threading.Event()
        flooding.set()
        flood_answers: list[int] = []

        def flooder() -> None:
            k = 0
            while flooding.is_set():
                flood_answers.append(enrol(server, participant("flood", k), source="127.0.2.1").status)
                k += 1

        thread = threading.Thread(target=flooder)
        thread.start()
        try:
            flood_start = time.perf_counter()  # past the flooder's burst: it gets 429s from then on
            while len(flood_answers) < NEWCOMER_BURST + 20 and time.perf_counter() - flood_start < 20:
                time.sleep(0.05)
            who, answer_times, next_times = participant("answerer", 0), [], []
            trial = enrol(server, who, source="127.0.3.1")
            for _ in range(10):
                given = trial.json()
                posted = call(
                    server.port,
                    "POST",
                    "/api/study/bench/answer",
                    json.dumps({"participant": who, "trial": given["trial"], "choice": 0}).encode(),
                    {"Content-Type": "application/json"},
                    source="127.0.3.1",
                    timeout=60,
                )
                assert posted.status == 200, posted.body
                answer_times.append(posted.seconds)
                trial = enrol(server, who, source="127.0.3.1")
                next_times.append(trial.seconds)
        finally:
            flooding.clear()
            thread.join()

    def ms(answers: list[Answer] | list[float]) -> dict[str, float]:
        seconds = [a.seconds if isinstance(a, Answer) else a for a in answers]
        return {
            "median_ms": round(statistics.median(seconds) * 1000, 1),
            "max_ms": round(max(seconds) * 1000, 1),
        }

    return {
        "trials_per_participant": 50,
        "early_enrolment": ms(early),
        "one_address_400": {
            "statuses": statuses,
            "seconds": round(flood_s, 2),
            "admitted": sum(a.status == 200 for a in flood) + len(early),
            "refused_429": ms([a for a in flood if a.status == 429]) if statuses.get("429") else None,
        },
        "real_same_address_right_after": {
            "status": real_now.status,
            "ms": round(real_now.seconds * 1000, 1),
            "admitted_after_s": round(waited, 2),
            "then_status": real_later.status,
            "then_ms": round(real_later.seconds * 1000, 1),
        },
        "filled_to": enrolled,
        "fill_addresses": address - 1,
        "fill_s": round(fill_s, 1),
        "late_enrolment_after_400": ms(late),
        "answer_during_flood": ms(answer_times),
        "next_during_flood": ms(next_times),
        "flood_requests": len(flood_answers),
        "flood_admitted": flood_answers.count(200),
        "flood_429": flood_answers.count(429),
        "load": load(),
    }


# ---------------------------------------------------------------- 5. slow bodies


def open_upload(server: Served, size: int) -> tuple[socket.socket, bytes]:
    """A connection with an upload's headers sent, declaring a body of about ``size`` bytes; (socket,
    body)."""
    body, content_type = multipart(b"\0" * size)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.sendall(
        f"POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    return sock, body


def bench_slow(folder: Path) -> dict[str, object]:
    with served(log=folder / "slow.log") as server:
        held_45 = held_bodies(server)
        cut = cut_off_clients(server)
    return {"held_45mb": held_45, "cut_off": cut, "load": load()}


def held_bodies(server: Served) -> dict[str, object]:
    """8 bodies of 45 MB, all but the last kB sent, held in the receiving slots: what they cost and block."""
    before = server.memory()["rss_mb"]
    server.reset_peak()
    opened = [open_upload(server, 45_000_000) for _ in range(RECEIVING)]
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=RECEIVING) as pool:
        list(pool.map(lambda pair: pair[0].sendall(pair[1][:-1000]), opened))
    sent_s = time.monotonic() - start
    time.sleep(2.0)
    held = server.memory()
    health = call(server.port, "GET", "/api/health", timeout=30)
    ninth = upload(server, grey_photo(200, 200, 3))
    answers = [closed_or_none(sock) for sock, _ in opened]
    for sock, _ in opened:
        sock.close()
    time.sleep(2.0)
    after_close = server.memory()["rss_mb"]
    for _ in range(60):  # the slots free as the server sees the clients gone
        if call(server.port, "GET", "/api/health", timeout=30).json().get("receiving") == 0:
            break
        time.sleep(0.5)
    held_45 = {
        "bodies": RECEIVING,
        "each_mb": 45,
        "sent_s": round(sent_s, 1),
        "held_growth_mb": round(held["rss_mb"] - before, 1),
        "peak_growth_mb": round(held["hwm_mb"] - before, 1),
        "receiving": health.json().get("receiving"),
        "health_ms": round(health.seconds * 1000, 1),
        "ninth_upload": refused(ninth),
        "answered_while_held": answers,
        "kept_after_close_mb": round(after_close - before, 1),
        "bound_if_stalled_s": round(BODY_GRACE_S + 45_000_000 / BODY_MIN_RATE),
    }
    return held_45


def cut_off_clients(server: Served) -> list[dict[str, object]]:
    """Bodies that stall after 2 MB or trickle 1 kB per 0.1 s, and headers that trickle: when each is cut."""
    clients: list[dict[str, object]] = []
    start = time.monotonic()
    for k in range(RECEIVING):
        sock, body = open_upload(server, 4_000_000)
        stall = k < RECEIVING // 2
        if stall:
            sock.sendall(body[:2_000_000])
        clients.append(
            {
                "sock": sock,
                "body": body,
                "kind": "stalls after 2 MB" if stall else "trickles 10 kB/s",
                "sent": 2_000_000 if stall else 0,
                "start": time.monotonic(),
            }
        )
    for _ in range(2):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        clients.append(
            {
                "sock": sock,
                "body": b"a" * 10_000,
                "kind": "header trickles 10 B/s",
                "sent": 0,
                "start": time.monotonic(),
            }
        )
    while time.monotonic() - start < 150 and any("answer" not in c for c in clients):
        for client in clients:
            if "answer" in client:
                continue
            got = closed_or_none(client["sock"])
            if got is not None:
                client["answer"], client["cut_s"] = got, round(time.monotonic() - client["start"], 1)
            elif not client["kind"].startswith("stalls"):
                step = 1000 if client["kind"].startswith("trickles") else 1
                try:
                    client["sock"].sendall(client["body"][client["sent"] : client["sent"] + step])
                    client["sent"] += step
                except OSError:
                    client["answer"], client["cut_s"] = (
                        "(reset)",
                        round(time.monotonic() - client["start"], 1),
                    )
        time.sleep(0.1)
    cut = []
    for client in clients:
        client["sock"].close()
        kind, sent = client["kind"], client["sent"]
        if kind.startswith("header"):
            bound = HEADER_TIMEOUT_S
        elif kind.startswith("stalls"):
            bound = BODY_GRACE_S + sent / BODY_MIN_RATE
        else:  # at r bytes/s under the pace: cut when t > grace + r t / min_rate
            bound = BODY_GRACE_S / (1 - 10_000 / BODY_MIN_RATE)
        cut.append(
            {
                "kind": kind,
                "answer": client.get("answer", "still open"),
                "cut_s": client.get("cut_s"),
                "sent_kb": round(sent / 1000, 1),
                "bound_s": round(bound, 1),
            }
        )
    return cut


def closed_or_none(sock: socket.socket) -> str | None:
    """The first line the server sent on ``sock`` ('closed' once it closed), None while it says nothing."""
    sock.setblocking(False)
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return None
    except OSError as error:
        return f"({type(error).__name__})"
    finally:
        sock.setblocking(True)
    return data.split(b"\r\n", 1)[0].decode("latin-1") or "closed"


# ---------------------------------------------------------------- the table


BEFORE = {  # issue 30's probe
    "hints": "600 hints: 39 s, +0.6 GB; 1,200: 197 s, +1.8 GB",
    "zip": "40 copies of one 1-MP id: 110 MB body, +310 MB; 6,000 ids accepted",
    "size": "size=4096: +3.9 GB peak for 38 s, 2.5 GB kept",
    "study": "200 MB read before the 400",
    "slow": "8 unfinished 45 MB bodies: +360 MB, never cut off",
    "enrol": "after 400 forged participants 601 ms (40 ms early); an answer 1.1 s in a flood",
}


def after_line(kind: str, r: dict) -> str:
    if kind == "hints":
        return (
            f"100 hints: put {r['put_hints_s']:.2f} s + preview {r['preview_s']:.2f} s, peak "
            f"+{r['peak_growth_mb']:.0f} MB; 101: {r['refused_101']['status']} in "
            f"{r['refused_101']['seconds'] * 1000:.0f} ms"
        )
    if kind == "zip":
        return (
            f"100 ids: {r['zip_of_last_100']['status']} (the store kept {r['uploads_kept_by_store']}); "
            f"{r['zip_ids']} distinct 1-MP ids: {r['seconds']:.1f} s, {r['body_mb']:.0f} MB body "
            f"({r['members']} members), peak +{r['peak_growth_mb']:.0f} MB; 101 ids: "
            f"{r['refused_101']['status']}; 40 copies: {r['copies_40']['members']} member, "
            f"{r['copies_40']['body_mb']:.1f} MB; 6,000 ids: {r['url_6000_repeated_ids']['status']}"
        )
    if kind == "size":
        return (
            f"size=512 of 4096x4096: {r['seconds']:.1f} s, peak +{r['peak_growth_mb']:.0f} MB, kept "
            f"+{r['kept_growth_mb']:.0f} MB; size=4096: {r['refused_4096']['status']}; its full-resolution "
            f"PNG: {r['download_png']['seconds']:.1f} s, peak +{r['download_png']['peak_growth_mb']:.0f} MB"
        )
    if kind == "study":
        a, b = r["with_length"], r["chunked"]
        return (
            f"with length: {a['answer']} after {a['server_read_kb']:.0f} kB read, {a['seconds'] * 1000:.0f} "
            f"ms; chunked: {b['answer']} after {b['server_read_kb']:.0f} kB read, {b['seconds'] * 1000:.0f} "
            f"ms"
        )
    if kind == "slow":
        h = r["held_45mb"]
        cuts = "; ".join(
            f"{c['kind']}: {c['answer'].removeprefix('HTTP/1.1 ')} at {c['cut_s']} s (bound {c['bound_s']})"
            for c in r["cut_off"][RECEIVING // 2 - 1 : RECEIVING // 2 + 1] + r["cut_off"][-1:]
        )
        return (
            f"8 x 45 MB held: +{h['held_growth_mb']:.0f} MB; 9th upload {h['ninth_upload']['status']} after "
            f"{h['ninth_upload']['seconds']:.1f} s; {cuts}; a stalled 45 MB body's bound "
            f"{h['bound_if_stalled_s']} s"
        )
    if kind == "enrol":
        s = r["real_same_address_right_after"]
        return (
            f"early {r['early_enrolment']['median_ms']:.0f} ms, after 400 "
            f"{r['late_enrolment_after_400']['median_ms']:.0f} ms (max "
            f"{r['late_enrolment_after_400']['max_ms']:.0f}); one address: "
            f"{r['one_address_400']['statuses']}; a real one there: {s['status']}, admitted after "
            f"{s['admitted_after_s']} s; answer in a flood {r['answer_during_flood']['median_ms']:.0f} ms "
            f"(max {r['answer_during_flood']['max_ms']:.0f})"
        )
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", default=",".join(KINDS), help=f"comma-separated kinds among {', '.join(KINDS)}"
    )
    args = parser.parse_args()
    kinds = [kind for kind in args.only.split(",") if kind]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    benches = {
        "hints": bench_hints,
        "zip": bench_zip,
        "size": bench_size,
        "study": bench_study,
        "enrol": bench_enrol,
        "slow": bench_slow,
    }
    results: dict[str, object] = {"load_average_start": load()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-serve-limits-") as scratch:
        for kind in kinds:
            kind_start, load_before = time.perf_counter(), load()
            print(f"{kind} ...", flush=True)
            results[kind] = (
                {"load_before": load_before}
                | benches[kind](Path(scratch))
                | {"bench_s": round(time.perf_counter() - kind_start, 1)}
            )
    results |= {"load_average_end": load(), "total_s": round(time.perf_counter() - started, 1)}
    print(f"\n{'kind':<6} | {'before (issue 30)':<70} | after (load average)")
    print("-" * 200)
    for kind in kinds:
        r = results[kind]
        print(
            f"{kind:<6} | {BEFORE[kind]:<70} | {after_line(kind, r)} (load "
            f"{r['load_before']:.1f}-{r['load']:.1f})"
        )
    print(
        f"\nload average {results['load_average_start']} at start, {results['load_average_end']} at end "
        f"(2 cores, shared); {results['total_s']:.0f} s in all"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
