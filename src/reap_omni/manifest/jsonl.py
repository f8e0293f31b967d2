"""Streaming JSON Lines I/O with msgspec.

Reading is line by line with a bounded line length, so memory stays flat however large the file is,
and every problem is reported as ``file:line: message``. A UTF-8 BOM, CRLF endings and blank lines
are accepted. Writing goes through ``atomic_output``: the file appears complete or not at all.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from typing import Any

import msgspec

from reap_omni.errors import InputError, ReapOmniError
from reap_omni.fileio import atomic_output

BOM = b"\xef\xbb\xbf"
#: A JSONL row describes media by path, so a line this long is almost surely a mistake (e.g. inline
#: base64 media or a whole JSON array on one line); override with REAP_OMNI_MAX_LINE_BYTES.
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024

_decoder = msgspec.json.Decoder()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a streaming loop.

    The loop makes millions of short-lived, acyclic objects that reference counting frees at once; the
    collector would only re-scan them (about 30% of the run time). The previous state is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def max_line_bytes() -> int:
    return int(os.environ.get("REAP_OMNI_MAX_LINE_BYTES", DEFAULT_MAX_LINE_BYTES))


def read_jsonl_lines(path: str | os.PathLike[str], limit: int | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, stripped_bytes)`` for each non-blank line; never holds more than one line."""
    for lineno, _offset, line in read_jsonl_entries(path, limit):
        yield lineno, line


def _open_input(path: str | os.PathLike[str]):
    """Open an input manifest for binary reading; a missing or unreadable file is one ``InputError`` line."""
    try:
        return open(path, "rb")  # noqa: SIM115 - the callers close it
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except IsADirectoryError:
        raise InputError("is a folder, expected a JSONL file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None


def read_jsonl_entries(
    path: str | os.PathLike[str], limit: int | None = None, errors: Any = None
) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(line_number, byte_offset, stripped_bytes)`` for each non-blank line.

    The offset lets callers (merge --shuffle) keep a compact index and read a row back later. A line
    over ``limit`` raises ``InputError``; with ``errors`` (a ``RowErrors``) it is reported there instead
    and skipped in bounded chunks, so one huge line neither stops a tolerant reader nor fills memory.
    """
    limit = max_line_bytes() if limit is None else limit
    f = _open_input(path)
    with f:
        lineno = 0
        offset = 0
        while True:
            raw = f.readline(limit + 1)
            if not raw:
                return
            lineno += 1
            start = offset
            offset += len(raw)
            if len(raw) > limit and not raw.endswith(b"\n"):
                exc = InputError(
                    f"line is longer than {limit // (1024 * 1024)} MiB (set REAP_OMNI_MAX_LINE_BYTES to allow it)",
                    path,
                    lineno,
                )
                if errors is None:
                    raise exc
                errors.add(exc)
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line, a chunk at a time
                    raw = f.readline(1 << 20)
                    offset += len(raw)
                continue
            if lineno == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
                start += len(BOM)
            line = raw.strip()
            if line:
                yield lineno, start, line


def read_jsonl_blocks(
    path: str | os.PathLike[str], block_bytes: int = 1 << 20, limit: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(first_line_number, block)``: about ``block_bytes`` of whole lines, newlines included.

    For batch decoders (msgspec ``decode_lines``), which remove the per-line Python overhead of
    ``read_jsonl_lines``; on a problem the caller re-reads the block with ``split_block`` for the exact line.
    Memory stays bounded by ``block_bytes`` plus one line; a line over ``limit`` raises ``InputError``.
    """
    limit = max_line_bytes() if limit is None else limit
    block_bytes = max(1, min(block_bytes, limit))  # a line lying wholly inside one read is then within limit
    f = _open_input(path)
    too_long = f"line is longer than {limit // (1024 * 1024)} MiB (set REAP_OMNI_MAX_LINE_BYTES to allow it)"
    with f:
        lineno, carry, first = 1, b"", True
        while True:
            data = f.read(max(block_bytes, len(BOM)) if first else block_bytes)
            if first:
                data, first = data[len(BOM):] if data.startswith(BOM) else data, False
            if carry:
                buf = carry + data
                nl = buf.find(b"\n")
                if (nl if nl >= 0 else len(buf)) > limit:  # the carried line, now complete or still growing
                    raise InputError(too_long, path, lineno)
            else:
                buf = data
            if not data:  # end of file: the last line may lack its newline
                if buf:
                    yield lineno, buf
                return
            cut = buf.rfind(b"\n")
            if cut < 0:
                carry = buf
                continue
            block, carry = buf[: cut + 1], buf[cut + 1:]
            yield lineno, block
            lineno += block.count(b"\n")


def split_block(first_line: int, block: bytes) -> Iterator[tuple[int, bytes]]:
    """``(line_number, stripped_line)`` for each non-blank line of a block from ``read_jsonl_blocks``."""
    for i, raw in enumerate(block.split(b"\n")):
        line = raw.strip()
        if line:
            yield first_line + i, line


def json_error_message(exc: Exception, raw: bytes) -> str:
    """Say why ``raw`` did not decode, the same way whatever the msgspec version.

    msgspec < 0.23 raised ``UnicodeDecodeError`` for invalid UTF-8, 0.23 raises ``DecodeError("Invalid
    UTF-8 encoded string")``; both become ``invalid UTF-8 at byte N``, found by decoding the bytes ourselves.
    """
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"invalid UTF-8 at byte {bad.start}"
    return f"malformed JSON: {exc}"


#: What a msgspec decoder may raise for bytes that are not JSON (the UTF-8 one differs by version).
JSON_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)


def decode_json_line(line: bytes, path: str | os.PathLike[str], lineno: int) -> Any:
    """Decode one JSON line; malformed JSON or invalid UTF-8 becomes an ``InputError`` at that line."""
    try:
        return _decoder.decode(line)
    except JSON_ERRORS as exc:
        raise InputError(json_error_message(exc, line), path, lineno) from None


def iter_json_objects(path: str | os.PathLike[str], errors: Any = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each line that holds a JSON object.

    With ``errors`` (a ``RowErrors``), bad lines are reported to it instead of raising when it allows.
    """
    for lineno, _offset, line in read_jsonl_entries(path, errors=errors):
        try:
            obj = decode_json_line(line, path, lineno)
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", path, lineno)
        except InputError as exc:
            if errors is None:
                raise
            errors.add(exc)
            continue
        yield lineno, obj


class JsonlWriter:
    """Atomic, buffered JSONL writer: rows go to a temp file renamed into place on ``close``.

    Use as a context manager; an exception inside the block discards the partial output.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self.count = 0
        self._encoder = msgspec.json.Encoder()
        self._buf = bytearray()
        self._cm = atomic_output(self.path, "wb")
        self._f = None

    def __enter__(self) -> JsonlWriter:
        self._f = self._cm.__enter__()
        return self

    def write(self, obj: Any) -> None:
        self._encoder.encode_into(obj, self._buf, len(self._buf))
        self._buf += b"\n"
        self.count += 1
        if len(self._buf) >= 1 << 20:
            self._f.write(self._buf)
            self._buf.clear()

    def write_many(self, objs: list[Any]) -> None:
        """Write a batch of rows with one encoder call (``encode_lines``)."""
        self._buf += self._encoder.encode_lines(objs)
        self.count += len(objs)
        if len(self._buf) >= 1 << 20:
            self._f.write(self._buf)
            self._buf.clear()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None and self._buf:
            self._f.write(self._buf)
        self._buf.clear()
        return bool(self._cm.__exit__(exc_type, exc, tb))


def write_jsonl(path: str | os.PathLike[str], rows) -> int:
    """Write an iterable of JSON-serialisable rows atomically; returns the row count."""
    with JsonlWriter(path) as w:
        for row in rows:
            w.write(row)
    return w.count


def encode_json(obj: Any) -> bytes:
    """Compact JSON bytes (msgspec), for small files such as stats and lock files."""
    try:
        return msgspec.json.encode(obj)
    except TypeError as exc:  # a non-serialisable value is a programming error, but say which
        raise ReapOmniError(f"cannot encode JSON: {exc}") from None
