"""A ``multipart/form-data`` request read as it streams: its text fields and one file, in memory, refused as
soon as it passes the byte limit (before the rest is read) and never written to disk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FIELD_BYTES = 1000  # a text field (temperature, size, format, model) is short


class FormError(ValueError):
    """A request that is not a well-formed form; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # field name -> content
    filenames: dict[str, str] = field(default_factory=dict)  # field name -> the name the client gave


async def read_form(
    content_type: str | None, content_length: str | None, body: AsyncIterator[bytes], *, max_bytes: int
) -> Form:
    """Parse a form from ``body`` chunks; FormError 413 past ``max_bytes`` (the declared length is checked
    before any byte is read), 400 when it is not multipart or is malformed."""
    if content_length is not None and content_length.isdigit() and int(content_length) > max_bytes:
        raise FormError(
            f"request of {int(content_length):,} bytes is above the {max_bytes:,}-byte limit", 413
        )
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise FormError("expected a multipart/form-data request with a file field")
    collector = _Collector()
    parser = MultipartParser(boundary, collector.callbacks())
    received = 0
    async for chunk in body:
        received += len(chunk)
        if received > max_bytes:
            raise FormError(f"request is above the {max_bytes:,}-byte limit", 413)
        _feed(parser.write, chunk)
    _feed(parser.finalize)
    return collector.form


def _feed(step: Callable[..., object], *args: bytes) -> None:
    try:
        step(*args)
    except FormError:
        raise
    except Exception as error:  # noqa: BLE001  python-multipart raises assorted errors on bad input
        raise FormError(f"malformed multipart body ({error})") from None


class _Collector:
    """The parser's callbacks: the parts' headers and data, gathered into a ``Form``."""

    def __init__(self) -> None:
        self.form = Form()
        self.header_field, self.header_value = bytearray(), bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.data = bytearray()

    def callbacks(self) -> dict:
        def on_header_field(data: bytes, start: int, end: int) -> None:
            self.header_field += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            self.header_value += data[start:end]

        def on_header_end() -> None:
            self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
            self.header_field, self.header_value = bytearray(), bytearray()

        def on_part_begin() -> None:
            self.headers, self.data = {}, bytearray()

        def on_part_data(data: bytes, start: int, end: int) -> None:
            self.data += data[start:end]

        return {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": self._part_end,
        }

    def _part_end(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            self.form.files[name] = bytes(self.data)
            self.form.filenames[name] = options[b"filename"].decode("utf-8", "replace")
        elif len(self.data) <= MAX_FIELD_BYTES:
            self.form.fields[name] = self.data.decode("utf-8", "replace")
        else:
            raise FormError(f"form field {name!r} is longer than {MAX_FIELD_BYTES} bytes")
