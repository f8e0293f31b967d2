"""Byte-level streaming of safetensors files: read headers, copy or row-slice tensors, write shards.

Checkpoint surgery only drops tensors, renames them, and keeps a subset of rows along dim 0 (router rows,
fused expert slabs). All of that is a byte-range copy, so nothing is decoded and at most one chunk sits in
memory: a 30B checkpoint is rewritten with a few MiB of RAM, and untouched tensors stay bit-identical.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from reap_omni.errors import ReapOmniError

_CHUNK = 8 << 20
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "U16": 2, "U32": 4, "U64": 8}
#: safetensors' own limit on the header length; a larger one means the file is not safetensors at all.
_MAX_HEADER = 100_000_000


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
    """Tensor layout and ``__metadata__`` of a safetensors file, checked against the file's size.

    Reads 8 + N bytes whatever the file's size, and refuses in one line (naming the file and what to do)
    everything ``safetensors`` would refuse only when the weights are loaded: a truncated or padded file, a
    corrupt header, an unknown dtype, a tensor whose bytes do not hold ``prod(shape)`` elements of its dtype,
    overlapping or gapped data.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise ReapOmniError(f"{path} is truncated ({size} bytes, less than a header): re-download it")
            (n,) = struct.unpack("<Q", f.read(8))
            if n > _MAX_HEADER:
                raise ReapOmniError(f"{path} is not a safetensors file (header length {n}): re-download it")
            if 8 + n > size:
                raise ReapOmniError(f"{path} is truncated (header says {_sizes(8 + n, size)}): re-download it")
            raw = f.read(n)
    except PermissionError:
        raise ReapOmniError(f"cannot read {path}: permission denied; make it readable (chmod a+r)") from None
    except FileNotFoundError:
        raise ReapOmniError(f"{path} is missing: re-download it") from None
    except OSError as exc:
        raise ReapOmniError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReapOmniError(f"{path} has a corrupt header ({exc}): re-download it") from None
    if not isinstance(header, dict):
        raise ReapOmniError(f"{path} has a corrupt header (not a JSON object): re-download it")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ReapOmniError(f"{path} has a corrupt header (__metadata__ is not an object of strings): re-download it")
    base = 8 + n
    infos = {name: _tensor_info(path, name, h, base) for name, h in header.items()}
    end = base
    for name, info in sorted(infos.items(), key=lambda kv: (kv[1].start, kv[1].end)):
        if info.start != end:
            raise ReapOmniError(f"{path} has a corrupt header (tensor {name} starts at byte {info.start - base} "
                                f"of the data, expected {end - base}): re-download it")
        end = info.end
    if end > size:
        raise ReapOmniError(f"{path} is truncated (header says {_sizes(end, size)}): re-download it")
    if end < size:
        raise ReapOmniError(f"{path} has {size - end} bytes after its last tensor (header says {_sizes(end, size)}): "
                            "re-download it")
    return infos, meta


def _tensor_info(path: str | os.PathLike[str], name: str, h: Any, base: int) -> TensorInfo:
    """One header entry, checked: a known dtype, a shape of non-negative ints, and exactly its bytes."""
    ok = (isinstance(h, dict) and isinstance(h.get("dtype"), str) and isinstance(h.get("shape"), list)
          and isinstance(h.get("data_offsets"), list) and len(h["data_offsets"]) == 2
          and all(_is_count(v) for v in (*h["shape"], *h["data_offsets"])))
    if not ok:
        raise ReapOmniError(f"{path} has a corrupt header (entry {name!r}: {repr(h)[:120]}): re-download it")
    dtype, shape, (start, end) = h["dtype"], tuple(h["shape"]), h["data_offsets"]
    if dtype not in DTYPE_BYTES:
        raise ReapOmniError(f"{path}: tensor {name} has dtype {dtype!r}, which reap-omni does not know: "
                            "re-download it")
    want = math.prod(shape) * DTYPE_BYTES[dtype]
    if end - start != want:
        raise ReapOmniError(f"{path}: tensor {name} is {dtype} {list(shape)} ({want} bytes), but the header gives it "
                            f"{end - start} bytes: the file is corrupt; re-download it")
    return TensorInfo(dtype, shape, base + start, base + end)


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _sizes(want: int, have: int) -> str:
    """``4.0 GB, file has 1.2 GB``; exact byte counts where the rounded sizes would read the same."""
    a, b = _human(want), _human(have)
    if a == b:
        a, b = f"{want:,} bytes", f"{have:,} bytes"
    return f"{a}, file has {b}"


def _human(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


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
