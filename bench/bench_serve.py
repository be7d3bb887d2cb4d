"""Web app benchmark: ``chromalab serve`` under load, measured from outside as a user's browser meets it.

    python bench/bench_serve.py [--clients 20] [--photos 5]      (part of ``make bench``)

1. ``--clients`` concurrent clients (each from its own loopback address) each POST ``--photos`` photos of
   2 megapixels to ``/api/colorize`` (real photos of scikit-image and scikit-learn, resized): errors
   (target 0), photos per second, p50 and p95 latency, and the server's peak resident memory (VmHWM; target
   under 2 GB). ``/api/health`` is asked every 50 ms meanwhile: its worst answer time (target under 100 ms).
2. The live temperature: one 2-megapixel upload, then its 1600-pixel preview at 20 temperatures one after
   another: median and worst time per re-render, HTTP included (target 150 ms).

Both, for each of ``--engines`` (onnx, then torch), one server after the other in one run.

The server is the installed command in its own process, on 127.0.0.1. Writes ``bench/results/serve.json``.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image
from sklearn.datasets import load_sample_image

RESULTS = Path(__file__).parent / "results" / "serve.json"
CHROMALAB = Path(sys.executable).parent / "chromalab"
TWO_MEGAPIXELS = (1732, 1155)


def photos() -> list[bytes]:
    """Five real photos as grey 2-megapixel JPEGs."""
    sources = [
        skimage.data.astronaut(),
        skimage.data.coffee(),
        skimage.data.chelsea(),
        load_sample_image("china.jpg"),
        load_sample_image("flower.jpg"),
    ]
    out = []
    for rgb in sources:
        buffer = io.BytesIO()
        Image.fromarray(rgb).convert("L").resize(TWO_MEGAPIXELS, Image.Resampling.BICUBIC).save(
            buffer, "JPEG", quality=90
        )
        out.append(buffer.getvalue())
    return out


def multipart(data: bytes, **fields: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n\r\n'.encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post(url: str, data: bytes, *, source: str | None = None, **fields: str) -> tuple[int, bytes, float]:
    """POST a photo; ``source``: the loopback address to send from (127.0.0.2, ...), so that each client is
    one address, as users are (the server limits the uploads it receives from one address at once)."""
    body, content_type = multipart(data, **fields)
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=300, source_address=(source, 0) if source else None
    )
    start = time.perf_counter()
    try:
        connection.request("POST", parts.path, body=body, headers={"Content-Type": content_type})
        answer = connection.getresponse()
        return answer.status, answer.read(), time.perf_counter() - start
    finally:
        connection.close()


def get(url: str) -> tuple[bytes, float]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as answer:
        return answer.read(), time.perf_counter() - start


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def start_server(engine: str) -> tuple[str, subprocess.Popen]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(CHROMALAB), "serve", "--port", str(port), "--engine", engine]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            get(url + "/api/health")
            return url, process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def load_test(url: str, pictures: list[bytes], clients: int, per_client: int) -> dict[str, float]:
    health_times: list[float] = []
    running = threading.Event()
    running.set()

    def watch_health() -> None:
        while running.is_set():
            health_times.append(get(url + "/api/health")[1])
            time.sleep(0.05)

    def client(number: int) -> list[tuple[int, float]]:
        return [
            post(
                url + "/api/colorize",
                pictures[(number + k) % len(pictures)],
                source=f"127.0.0.{2 + number}",
                format="jpeg",
            )[::2]
            for k in range(per_client)
        ]

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        answers = [one for result in pool.map(client, range(clients)) for one in result]
    wall = time.perf_counter() - start
    running.clear()
    watcher.join()
    latencies = sorted(seconds for _, seconds in answers)
    return {
        "photos": len(answers),
        "errors": sum(status != 200 for status, _ in answers),
        "wall_s": wall,
        "photos_per_s": len(answers) / wall,
        "p50_s": latencies[len(latencies) // 2],
        "p95_s": latencies[int(0.95 * (len(latencies) - 1))],
        "health_worst_ms": max(health_times) * 1000,
        "health_median_ms": statistics.median(health_times) * 1000,
    }


def rerender_test(url: str, picture: bytes, count: int = 20) -> dict[str, float]:
    status, body, _ = post(url + "/api/uploads", picture)
    assert status == 200, body
    upload = json.loads(body)["id"]
    times = []
    for t in np.linspace(0.05, 1.0, count):
        preview, seconds = get(f"{url}/api/uploads/{upload}/preview?temperature={t:.2f}")
        times.append(seconds)
    side = max(Image.open(io.BytesIO(preview)).size)
    return {"preview_side": side, "median_ms": statistics.median(times) * 1000, "worst_ms": max(times) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--photos", type=int, default=5, help="photos per client")
    parser.add_argument(
        "--engines", nargs="+", default=["onnx", "torch"], help="one server after the other, in one run"
    )
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    pictures = photos()
    results: dict[str, object] = {}
    for engine in args.engines:
        url, server = start_server(engine)
        try:
            rerender = rerender_test(url, pictures[0])
            load = load_test(url, pictures, args.clients, args.photos)
            load["server_peak_rss_mb"] = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
        results[engine] = {"load": load, "rerender": rerender}
        print(f"--engine {engine}:")
        print(
            f"  {args.clients} clients x {args.photos} photos of 2 MP: {load['errors']} errors (target 0), "
            f"{load['photos_per_s']:.2f} photos/s, latency p50 {load['p50_s']:.2f} s, "
            f"p95 {load['p95_s']:.2f} s, server peak RSS {load['server_peak_rss_mb']:.0f} MB (target < 2048)"
        )
        print(
            f"  /api/health during the load: median {load['health_median_ms']:.1f} ms, worst "
            f"{load['health_worst_ms']:.1f} ms (target < 100)"
        )
        print(
            f"  temperature change, {rerender['preview_side']}-pixel preview: median "
            f"{rerender['median_ms']:.0f} ms, worst {rerender['worst_ms']:.0f} ms (target 150)"
        )
    load_end = os.getloadavg()[0]
    print(f"load average: {load_start:.2f} at start, {load_end:.2f} at end (2 cores, shared)")
    results["load_average"] = [load_start, load_end]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
