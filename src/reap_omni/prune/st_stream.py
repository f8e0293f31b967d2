"""Byte-level streaming of safetensors files: read headers, copy or row-slice tensors, write shards.

Checkpoint surgery only drops tensors, renames them, and keeps a subset of rows along dim 0 (router rows,
fused expert slabs). All of that is a byte-range copy, so nothing is decoded and at most one chunk sits in
memory: a 30B checkpoint is rewritten with a few MiB of RAM, and untouched tensors stay bit-identical.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from reap_omni.errors import ReapOmniError

_CHUNK = 8 << 20
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute file offset of the first byte
    end: int

    @property
    def row_bytes(self) -> int:
        return (self.end - self.start) // self.shape[0] if self.shape and self.shape[0] else 0


def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Tensor layout and ``__metadata__`` of a safetensors file."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
    except (OSError, struct.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReapOmniError(f"cannot read safetensors header of {path}: {exc}") from None
    base = 8 + n
    meta = header.pop("__metadata__", None) or {}
    infos = {
        name: TensorInfo(h["dtype"], tuple(h["shape"]), base + h["data_offsets"][0], base + h["data_offsets"][1])
        for name, h in header.items()
    }
    return infos, meta


@dataclass(frozen=True)
class Piece:
    """One output tensor: bytes ``rows`` (or all rows when None) of ``info`` in ``src``, under ``name``."""

    name: str
    src: Path
    info: TensorInfo
    rows: Sequence[int] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        if self.rows is None:
            return self.info.shape
        return (len(self.rows), *self.info.shape[1:])

    @property
    def nbytes(self) -> int:
        if self.rows is None:
            return self.info.end - self.info.start
        return len(self.rows) * self.info.row_bytes


def _copy_range(src: BinaryIO, dst: BinaryIO, start: int, length: int) -> None:
    src.seek(start)
    while length > 0:
        buf = src.read(min(_CHUNK, length))
        if not buf:
            raise ReapOmniError(f"{src.name} is truncated")
        dst.write(buf)
        length -= len(buf)


def write_shard(path: Path, pieces: Iterable[Piece], metadata: dict[str, str] | None = None) -> int:
    """Write one safetensors file from ``pieces`` (streamed); returns the data size in bytes."""
    pieces = sorted(pieces, key=lambda p: p.name)
    header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for p in pieces:
        header[p.name] = {"dtype": p.info.dtype, "shape": list(p.shape), "data_offsets": [offset, offset + p.nbytes]}
        offset += p.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    handles: dict[Path, BinaryIO] = {}
    try:
        with open(path, "wb") as out:
            out.write(struct.pack("<Q", len(raw)))
            out.write(raw)
            for p in pieces:
                src = handles.get(p.src) or handles.setdefault(p.src, open(p.src, "rb"))  # noqa: SIM115
                if p.rows is None:
                    _copy_range(src, out, p.info.start, p.nbytes)
                else:
                    rb = p.info.row_bytes
                    for r in p.rows:
                        _copy_range(src, out, p.info.start + r * rb, rb)
            out.flush()
            os.fsync(out.fileno())
    finally:
        for h in handles.values():
            h.close()
    return offset
