"""Streaming reader for JSON arrays and object-with-list files.

``json.load`` on a multi-GB export holds the whole document (several times its size) in memory. This
module splits the document into its elements incrementally instead: it scans chunks with two small
regexes (one outside strings, one inside, so ``"]"`` or ``\\"`` in text never confuse it), tracks bracket
depth, and hands each complete element's bytes to the caller, with the line where the element starts.
Each element is bounded by the same limit as a JSONL line. Elements are decoded by the caller (msgspec),
which also catches malformed JSON inside an element.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import IO, Any

import msgspec

from reap_omni.errors import InputError
from reap_omni.manifest.jsonl import BOM, max_line_bytes

CHUNK = 1 << 20
#: everything up to the next bracket or unterminated string: runs of other bytes and complete strings
_SKIP = re.compile(rb'(?:[^"{}\[\]]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.S)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_QUOTE = ord('"')
_SCALAR_END = re.compile(rb"[,\]}\s]")
_SPACE = re.compile(rb"[ \t\r\n]*")
_OPEN = frozenset(b"{[")

#: layouts a JSON input can have
LAYOUTS = ("array", "object", "jsonl")

_decoder = msgspec.json.Decoder()


class _Scanner:
    """A byte buffer over a file with the current position and its line number."""

    def __init__(self, f: IO[bytes], path: str, limit: int):
        self.f = f
        self.path = path
        self.limit = limit
        self.buf = b""
        self.pos = 0
        self.line = 1  # line number at offset ``counted``
        self.counted = 0
        self.eof = False

    def error(self, message: str, line: int | None = None) -> InputError:
        return InputError(message, self.path, line if line is not None else self.line_at(self.pos))

    def line_at(self, pos: int) -> int:
        if pos > self.counted:
            self.line += self.buf.count(b"\n", self.counted, pos)
            self.counted = pos
        return self.line

    def fill(self, keep_from: int) -> bool:
        """Append a chunk, dropping the buffer before ``keep_from``; False at end of file."""
        if self.eof:
            return False
        data = self.f.read(CHUNK)
        if not data:
            self.eof = True
            return False
        self.line_at(keep_from)
        self.buf = self.buf[keep_from:] + data
        self.pos -= keep_from
        self.counted -= keep_from
        return True

    def skip_ws(self) -> int | None:
        """Move past whitespace; the next byte, or None at end of file."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill(self.pos):
                return None

    def value(self, what: str = "element") -> tuple[int, bytes]:
        """The bytes of the JSON value at ``pos`` (which must not be whitespace) and its start line."""
        start_line = self.line_at(self.pos)
        first = self.buf[self.pos]
        if first not in _OPEN and first != _QUOTE:  # number, true, false, null: up to the next delimiter
            while True:
                m = _SCALAR_END.search(self.buf, self.pos)
                if m is not None:
                    raw = self.buf[self.pos : m.start()]
                    self.pos = m.start()
                    return start_line, raw
                if len(self.buf) - self.pos > 1024 or not self.fill(self.pos):
                    raw = self.buf[self.pos :]
                    self.pos = len(self.buf)
                    return start_line, raw
        if first == _QUOTE:
            while True:
                m = _STRING.match(self.buf, self.pos)
                if m is not None:
                    self.pos = m.end()
                    return start_line, m.group()
                self._need_more(self.pos, what, start_line)
        depth = 0
        i = self.pos
        while True:
            # one regex call skips everything up to the next bracket, whole strings included
            i = _SKIP.match(self.buf, i).end()
            if i < len(self.buf):
                ch = self.buf[i]
                if ch != _QUOTE:  # a bracket; a quote here is a string not complete in the buffer yet
                    i += 1
                    depth += 1 if ch in _OPEN else -1
                    if depth <= 0:
                        raw = self.buf[self.pos : i]
                        self.pos = i
                        return start_line, raw
                    continue
            start = self.pos
            self._need_more(start, what, start_line)
            i -= start

    def _need_more(self, start: int, what: str, start_line: int) -> None:
        """Read on for the value starting at ``start``, within the size limit; errors at end of file."""
        if len(self.buf) - start > self.limit:
            raise self.error(
                f"{what} is longer than {self.limit // (1024 * 1024)} MiB (set REAP_OMNI_MAX_LINE_BYTES to allow it)",
                start_line,
            )
        if not self.fill(start):
            raise self.error(f"unexpected end of file inside the {what} starting at line {start_line}")

    def array(self, open_line: int, emit: bool = True, opened: bool = False) -> Iterator[tuple[int, bytes]]:
        """Elements of the array whose ``[`` is at ``pos`` (or just behind, if ``opened``); ``emit=False``
        skips them."""
        if not opened:
            self.pos += 1
        c = self.skip_ws()
        if c == ord("]"):
            self.pos += 1
            return
        while True:
            if c is None:
                raise self.error(f"unexpected end of file: the array opened at line {open_line} is not closed")
            if c in (ord("]"), ord(",")):
                raise self.error(f"expected an array element, found {chr(c)!r}")
            line, raw = self.value()
            if emit:
                yield line, raw
            c = self.skip_ws()
            if c == ord(","):
                self.pos += 1
                c = self.skip_ws()
                continue
            if c == ord("]"):
                self.pos += 1
                return
            if c is None:
                raise self.error(f"unexpected end of file: the array opened at line {open_line} is not closed")
            raise self.error(f"expected ',' or ']' after the element starting at line {line}, found {chr(c)!r}")

    def object_list(self, parts: list[str] | None, found: list[str], prefix: str = "") -> Iterator[tuple[int, bytes]]:
        """Elements of the list under key path ``parts`` in the object at ``pos``.

        With ``parts`` None, the first top-level list whose first element is an object is used, and a
        second such list is an error (ambiguous). Keys that lead to a list are appended to ``found``.
        """
        open_line = self.line_at(self.pos)
        self.pos += 1
        c = self.skip_ws()
        if c == ord("}"):
            self.pos += 1
            return
        while True:
            if c != ord('"'):
                if c is None:
                    raise self.error(f"unexpected end of file: the object opened at line {open_line} is not closed")
                raise self.error(f"expected a key (a string), found {chr(c)!r}")
            key_line, raw_key = self.value("key")
            try:
                key = _decoder.decode(raw_key)
            except (msgspec.DecodeError, UnicodeDecodeError):
                raise self.error("malformed key", key_line) from None
            if self.skip_ws() != ord(":"):
                raise self.error(f"expected ':' after the key {key!r}")
            self.pos += 1
            c = self.skip_ws()
            if c is None:
                raise self.error(f"unexpected end of file after the key {key!r}")
            full = prefix + key
            if c == ord("[") and (parts is None or parts == [key]):
                value_line = self.line_at(self.pos)
                self.pos += 1
                # auto mode takes the first list whose first element is an object
                take = parts is not None or self.skip_ws() == ord("{")
                if take:
                    found.append(full)
                    if parts is None and len(found) > 1:
                        raise self.error(
                            f"the object holds several lists of objects ({', '.join(found)}); "
                            "choose one with --list-key",
                            value_line,
                        )
                yield from self.array(value_line, emit=take, opened=True)
            elif c == ord("{") and parts is not None and len(parts) > 1 and parts[0] == key:
                yield from self.object_list(parts[1:], found, full + ".")
            else:
                self.value(f"value of key {full!r}")
            c = self.skip_ws()
            if c == ord(","):
                self.pos += 1
                c = self.skip_ws()
                continue
            if c == ord("}"):
                self.pos += 1
                return
            if c is None:
                raise self.error(f"unexpected end of file: the object opened at line {open_line} is not closed")
            raise self.error(f"expected ',' or '}}' after the value of key {full!r}, found {chr(c)!r}")

    def expect_end(self, what: str) -> None:
        if self.skip_ws() is not None:
            raise self.error(f"unexpected content after the {what}")


def _open(path: str | os.PathLike[str]) -> IO[bytes]:
    try:
        return open(path, "rb")  # noqa: SIM115 - the callers close it
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except IsADirectoryError:
        raise InputError("is a folder, expected a JSON file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None


def _skip_bom(f: IO[bytes]) -> int:
    """Position ``f`` after an optional UTF-8 BOM; returns that offset."""
    offset = 3 if f.read(3) == BOM else 0
    f.seek(offset)
    return offset


def _first_byte(f: IO[bytes]) -> tuple[int | None, int]:
    """The first non-space byte after an optional BOM and its offset."""
    offset = _skip_bom(f)
    while True:
        chunk = f.read(4096)
        if not chunk:
            return None, offset
        stripped = chunk.lstrip(b" \t\r\n")
        if stripped:
            return stripped[0], offset + len(chunk) - len(stripped)
        offset += len(chunk)


def get_path(obj: Any, dotted: str) -> Any:
    """``obj[dotted]`` if that key exists, else follow ``a.b.0.c`` through objects and lists.

    Raises ``KeyError`` when the path does not exist.
    """
    if isinstance(obj, dict) and dotted in obj:
        return obj[dotted]
    cur = obj
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.lstrip("-").isdigit() and -len(cur) <= int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(dotted)
    return cur


def detect_layout(path: str | os.PathLike[str], list_key: str | None = None) -> str:
    """``array``, ``object`` (object with a list of rows) or ``jsonl``, from the first bytes of the file.

    A file starting with ``{`` is JSON Lines when its first line is a complete object followed by more
    content; a single complete object is a row list only if it holds a list of objects (or ``list_key``).
    """
    with _open(path) as f:
        first, offset = _first_byte(f)
        if first is None:
            raise InputError("file is empty, expected JSON", path)
        if first == ord("["):
            return "array"
        if first != ord("{"):
            raise InputError(f"not JSON: expected '[' or '{{' at the start, found {chr(first)!r}", path, 1)
        limit = max_line_bytes()
        f.seek(offset)
        line = f.readline(limit + 1)
        if len(line) > limit and not line.endswith(b"\n"):
            return "object"  # a huge single-line document: stream it
        try:
            obj = _decoder.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return "object"  # a pretty-printed object spans lines
        while True:
            more = f.readline(limit + 1)
            if not more:
                break
            if more.strip():
                return "jsonl"
        if list_key is not None:
            return "object"
        if isinstance(obj, dict) and any(isinstance(v, list) and v and isinstance(v[0], dict) for v in obj.values()):
            return "object"
        return "jsonl"


def iter_elements(
    path: str | os.PathLike[str], layout: str, list_key: str | None = None
) -> Iterator[tuple[int, bytes]]:
    """``(start_line, element_bytes)`` for each row of an ``array`` or ``object`` layout file."""
    path = os.fspath(path)
    with _open(path) as f:
        _skip_bom(f)
        sc = _Scanner(f, path, max_line_bytes())
        c = sc.skip_ws()
        if layout == "array":
            if c != ord("["):
                raise sc.error("expected a JSON array ('[')")
            yield from sc.array(sc.line_at(sc.pos))
            sc.expect_end("JSON array")
            return
        if c != ord("{"):
            raise sc.error("expected a JSON object ('{')")
        found: list[str] = []
        parts = list_key.split(".") if list_key else None
        yield from sc.object_list(parts, found)
        sc.expect_end("JSON object")
        if not found:
            if list_key:
                raise InputError(f"the object has no list under key {list_key!r}", path)
            raise InputError("the object holds no list of objects to read rows from; name one with --list-key", path)
