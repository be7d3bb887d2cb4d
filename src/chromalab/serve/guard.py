"""What a browser on another site must not do with this server: reach it under another name (DNS rebinding: a
page of evil.example whose name is made to point at 127.0.0.1 talks to the loopback server as if it were its
own) or send it state-changing requests (a cross-site form POST to ``/api/uploads`` would otherwise be
answered 200).

- ``Host``: accepted when it is a loopback name (localhost, 127.0.0.1, [::1]), an IP literal (a rebound page
  always sends its own domain name, never an address), the address the server was started on, or a name
  given with ``--allow-host``; anything else is 421.
- ``Origin`` of a POST, PUT, PATCH or DELETE: when a browser sends one, it must be this server's own (the
  scheme and the Host of the request); another site, or ``null``, is 403. Clients that send no Origin (curl,
  scripts) are not browsers on another site and pass. ``Sec-Fetch-Site: cross-site`` is refused likewise.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def host_name(host: str) -> str:
    """The name of a Host header (or of a URL's netloc): lower case, port and IPv6 brackets removed."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """ASGI middleware: the Host and Origin checks above, before any route runs."""

    def __init__(self, app: Callable, *, hosts: tuple[str, ...]) -> None:
        self.app = app
        self.hosts = {host_name(name) for name in (*LOOPBACK_NAMES, *hosts) if name}

    def accepts_host(self, host: str) -> bool:
        name = host_name(host)
        return name in self.hosts or is_ip(name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "")
        if not self.accepts_host(host):
            await _refuse(
                send,
                421,
                f"this server does not answer to the name {host_name(host)!r}; start it with "
                "--allow-host NAME to allow it",
            )
            return
        if scope["method"] in UNSAFE_METHODS and not _same_origin(headers, host, scope.get("scheme", "http")):
            await _refuse(send, 403, "a request from another site is not accepted")
            return
        await self.app(scope, receive, send)


def _same_origin(headers: dict[str, str], host: str, scheme: str) -> bool:
    if headers.get("sec-fetch-site", "") == "cross-site":
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return origin != "null" and parts.scheme == scheme and parts.netloc.lower() == host.strip().lower()


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
