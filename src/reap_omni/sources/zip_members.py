"""Reading one zip member in bounded memory: streamed inflation, capped at the source's member limit.

``zipfile.ZipFile.read`` inflates a whole member in one go, and for bzip2/LZMA one compressed chunk may
inflate without limit. Here the member's compressed bytes are read in chunks and every decompressor call
is given a ``max_length``, so a zip bomb costs one chunk of memory: a member whose central directory says
it is over ``limit`` is refused before a byte is fetched, and one that inflates past its declared size (a
lying directory) is refused as soon as it does. Members of unsafe paths are refused like tar members.
Stored, deflated, bzip2 and LZMA members are read; others and encrypted members are a one-line refusal.
"""

from __future__ import annotations

import bz2
import io
import lzma
import stat
import struct
import zipfile
import zlib
from typing import IO, Any

from reap_omni.sources.archive_safety import UnsafeArchive, check_member_name, member_too_big
from reap_omni.sources.base import SourceUnavailable

LOCAL_HEADER = 30
IN_CHUNK = 8 << 20  # compressed bytes per read (one Range request per chunk on a remote zip)
OUT_CHUNK = 8 << 20  # most bytes one decompressor call may produce
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
            zipfile.ZIP_LZMA: "lzma"}


def check_zip_member(info: zipfile.ZipInfo, archive: str) -> None:
    """Refuse the archive for a member path that could escape a folder, or a symbolic link (as tar does)."""
    check_member_name(info.filename, archive)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeArchive(f"{archive}: member {info.filename!r} is a link; archive refused")


def _corrupt(archive: str, name: str, what: str) -> SourceUnavailable:
    return SourceUnavailable(f"{archive}: member {name!r} {what}; the zip is damaged or not what it claims",
                             reason="layout")


class _Inflate:
    """zlib raw deflate behind the ``needs_input``/``eof`` interface of the bz2 and lzma decompressors."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(-15)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._d.eof

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._d.decompress(self._d.unconsumed_tail + data, max_length)
        # output may be pending when the call filled max_length, even with no input left
        self.needs_input = not self._d.unconsumed_tail and len(out) < max_length
        return out


class _ZipLzma:
    """LZMA as zip stores it: a 4-byte version/size header and the LZMA1 properties before a raw stream."""

    def __init__(self) -> None:
        self._head = b""
        self._d: Any = None
        self.eof = False

    @property
    def needs_input(self) -> bool:
        return self._d is None or self._d.needs_input

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._d is None:
            self._head += data
            if len(self._head) < 4:
                return b""
            (psize,) = struct.unpack("<H", self._head[2:4])
            if len(self._head) < 4 + psize:
                return b""
            props = self._head[4 : 4 + psize]
            if len(props) != 5:
                raise lzma.LZMAError(f"LZMA properties of {len(props)} bytes, expected 5")
            lc_lp_pb, dict_size = props[0], struct.unpack("<I", props[1:5])[0]
            lzma1 = {"id": lzma.FILTER_LZMA1, "lc": lc_lp_pb % 9, "lp": lc_lp_pb // 9 % 5, "pb": lc_lp_pb // 45,
                     "dict_size": dict_size}
            self._d = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1])
            data, self._head = self._head[4 + psize :], b""
        out = self._d.decompress(data, max_length)
        self.eof = self._d.eof
        return out


def _decompressor(method: int) -> Any:
    if method == zipfile.ZIP_DEFLATED:
        return _Inflate()
    if method == zipfile.ZIP_BZIP2:
        return bz2.BZ2Decompressor()
    return _ZipLzma()


def _data_offset(fp: IO[bytes], info: zipfile.ZipInfo, archive: str) -> int:
    """Where the member's compressed bytes start, after checking its local header names the same member."""
    fp.seek(info.header_offset)
    head = fp.read(LOCAL_HEADER)
    if len(head) != LOCAL_HEADER or head[:4] != b"PK\x03\x04":
        raise _corrupt(archive, info.filename, "has no local header where the central directory points")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    raw = fp.read(name_len)
    local = raw.decode("utf-8" if info.flag_bits & 0x800 else "cp437", errors="replace")
    if local != info.orig_filename:
        raise UnsafeArchive(f"{archive}: member {info.filename!r} is named {local!r} in its local header; "
                            "archive refused")
    return info.header_offset + LOCAL_HEADER + name_len + extra_len


def read_member(fp: IO[bytes], info: zipfile.ZipInfo, *, archive: str, limit: int) -> bytes:
    """The uncompressed bytes of ``info``, read from ``fp`` (the zip) with at most ``limit`` bytes inflated.

    Raises ``UnsafeArchive`` for an unsafe path, a member over ``limit``, or one inflating past its declared
    size, and ``SourceUnavailable`` (reason ``layout``) for a damaged, encrypted or unsupported member.
    """
    name = info.filename
    check_zip_member(info, archive)
    if info.flag_bits & 0x1:
        raise SourceUnavailable(f"{archive}: member {name!r} is encrypted; not supported", reason="layout")
    method = info.compress_type
    if method not in _METHODS:
        raise SourceUnavailable(f"{archive}: member {name!r} uses zip compression method {method}; only "
                                f"{', '.join(_METHODS.values())} are supported", reason="layout")
    if info.file_size > limit:
        raise member_too_big(archive, name, info.file_size, limit)
    fp.seek(_data_offset(fp, info, archive))
    declared = info.file_size
    left = info.compress_size
    out = io.BytesIO()
    crc = 0

    def take(piece: bytes) -> None:
        nonlocal crc
        if out.tell() + len(piece) > declared:
            raise UnsafeArchive(f"{archive}: member {name!r} inflates past its declared {declared} bytes; "
                                "member refused")
        crc = zlib.crc32(piece, crc)
        out.write(piece)

    if method == zipfile.ZIP_STORED:
        if left != declared:
            raise _corrupt(archive, name, f"is stored with {left} bytes but declares {declared}")
        while left > 0:
            data = fp.read(min(IN_CHUNK, left))
            if not data:
                break
            left -= len(data)
            take(data)
    else:
        d = _decompressor(method)
        while not d.eof:
            data = b""
            if d.needs_input:
                if left <= 0:
                    break
                data = fp.read(min(IN_CHUNK, left))
                if not data:
                    break
                left -= len(data)
            try:
                piece = d.decompress(data, min(OUT_CHUNK, declared - out.tell() + 1))
            except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
                raise _corrupt(archive, name, f"does not inflate ({exc})") from None
            if not piece and not data:
                break  # no progress possible: a damaged stream
            take(piece)
    if out.tell() != declared:
        raise _corrupt(archive, name, f"ends after {out.tell()} of its {declared} bytes")
    if crc != info.CRC:
        raise _corrupt(archive, name, "fails its CRC-32 check")
    return out.getvalue()
