"""A seekable, read-only file over HTTP Range requests that reads what it is asked for and little more.

pyarrow (parquet footers, column chunks) and zipfile (central directory, chosen members) only need a
seekable file object. General-purpose remote files read ahead (``HfFileSystem`` 5 MiB by default), which
for a few row groups of a large shard multiplies the bytes transferred (DATASET_SOURCES.md section 9). This
file fetches exactly the requested span, rounded up to ``min_fetch`` for small reads so that the many tiny
reads of zip headers and thrift footers do not each cost a round trip, and keeps only the last span.
"""

from __future__ import annotations

import io
from typing import Any

from reap_omni.sources.http import ErrorContext, HttpClient

DEFAULT_MIN_FETCH = 64 * 1024


class RangeFile(io.RawIOBase):
    """Random access to a remote file of known (or HEAD-probed) size through ``client``'s Range reads."""

    def __init__(
        self,
        client: HttpClient,
        url: str,
        size: int | None = None,
        *,
        min_fetch: int = DEFAULT_MIN_FETCH,
        ctx: ErrorContext | None = None,
        name: str | None = None,
    ):
        super().__init__()
        self.client, self.url, self.ctx = client, url, ctx or ErrorContext()
        self.size = size if size is not None else client.head_size(url, ctx=self.ctx)
        if self.size is None:
            raise ValueError(f"{url}: size unknown (no Content-Length), cannot range-read")
        self.min_fetch = max(0, min_fetch)
        self.name = name or url
        self.pos = 0
        self.requests = 0
        self._buf_start = 0
        self._buf = b""

    # -- io protocol -------------------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        new = base + offset
        if new < 0:
            raise ValueError("negative seek position")
        self.pos = new
        return new

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        data = self.pread(self.pos, n)
        self.pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    # -- range logic -------------------------------------------------------------------------------
    def pread(self, offset: int, n: int) -> bytes:
        """Bytes [offset, offset+n) without moving the position; served from the last span when possible."""
        end = min(self.size, offset + max(0, n))
        if offset >= end:
            return b""
        buf_end = self._buf_start + len(self._buf)
        if self._buf_start <= offset and end <= buf_end:
            return self._buf[offset - self._buf_start : end - self._buf_start]
        head = b""
        if self._buf_start <= offset < buf_end:  # the start is buffered: fetch only the rest
            head = self._buf[offset - self._buf_start :]
            offset = buf_end
        fetch_end = min(self.size, max(end, offset + self.min_fetch))
        data = self.client.get_bytes(self.url, offset, fetch_end, ctx=self.ctx)
        self.requests += 1
        self._buf_start, self._buf = offset, data
        return head + data[: end - offset]

    def close(self) -> None:
        self._buf = b""
        super().close()
