"""What a ``chromalab serve`` process allows: its model, its limits, its token and the studies it runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chromalab.colorize.loading import ENGINES
from chromalab.colorize.options import DEVICES
from chromalab.images import MAX_PIXELS


@dataclass(frozen=True)
class ServeSettings:
    model: str = "default"  # offered first; the page may pick any of the catalogue
    # auto or onnx: a model with a graph (the bundled default has one) runs on onnxruntime, the others on
    # torch; torch: all on torch
    engine: str = "auto"
    device: str = "auto"  # where onnxruntime runs the graphs (``colorize.options.DEVICES``)
    models_dir: Path | None = None  # more model files (*.safetensors) on offer
    max_upload_mb: float = 50.0  # bytes of one request; more is refused while it streams (413)
    max_megapixels: float = MAX_PIXELS / 1e6  # pixels of one photo, read from its header (413)
    token: str | None = None  # when set, every request must carry it
    workers: int = 2  # photos in the network at once (each on one thread: two cores, two photos)
    # photos in work or waiting at once; one more is refused (503), never an unbounded backlog
    queue: int = 64
    preview_side: int = 1600  # longest side of the previews the page shows and re-renders
    store_mb: float = 512.0  # network outputs and previews kept, least recently used dropped first
    upload_ttl_s: float = 3600.0  # an upload unused this long is dropped
    studies: tuple[Path, ...] = ()  # study files ('chromalab study create'), each run at /study/NAME
    # the view the network sees, at most (pixels, the shorter side): the bundled models recommend 256; a 4096
    # view took 3.9 GB for 38 s, 512 takes a few hundred MB at most
    max_size: int = 512
    # a slow client: its request's headers must be complete within this many seconds, its body must come at
    # body_min_kbps kB/s on average after body_grace_s seconds and never stall for body_grace_s (else 408),
    # and
    # at most `receiving` bodies are received at once, `receiving_per_client` from one address (one more waits
    # up to 10 s, then gets 503; one more from an address at its share gets 503 at once): a trickling client
    # holds at most its share of the slots, for a bounded time
    header_timeout_s: float = 10.0
    body_grace_s: float = 20.0
    body_min_kbps: float = 50.0
    receiving: int = 8
    receiving_per_client: int = 2
    # open connections (or requests in work); a request beyond gets 503 (uvicorn's limit)
    connections: int = 128
    allow_hosts: tuple[str, ...] = ()  # Host names accepted besides loopback, IP literals and the bound host
    host: str = "127.0.0.1"  # the address the server listens on (its name is an accepted Host)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.device not in DEVICES:
            raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        for name in (
            "max_upload_mb",
            "max_megapixels",
            "workers",
            "queue",
            "preview_side",
            "store_mb",
            "upload_ttl_s",
            "max_size",
            "header_timeout_s",
            "body_grace_s",
            "body_min_kbps",
            "receiving",
            "receiving_per_client",
            "connections",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.token is not None and not self.token.strip():
            raise ValueError("--token must not be empty (an empty token would let every request in)")

    @property
    def max_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)
