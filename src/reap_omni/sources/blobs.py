"""Naming media bytes: which file extension (container) a blob has, and which members are media at all.

Parquet rows often carry a bare or empty ``path`` next to the bytes, and the container must be known to
write the bytes unchanged (DATASET_SOURCES.md 2.2), so when the name has no extension it is sniffed.
"""

from __future__ import annotations

import posixpath

AUDIO_EXTS = frozenset({".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".sph", ".webm"})
VIDEO_EXTS = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv"})
MEDIA_EXTS = AUDIO_EXTS | VIDEO_EXTS
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")


def sniff_extension(data: bytes) -> str:
    """The usual extension for the container whose magic bytes start ``data`` ('.bin' when unknown)."""
    head = data[:64]
    if head.startswith(b"fLaC"):
        return ".flac"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return ".wav"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return ".avi"
    if head.startswith(b"OggS"):
        return ".ogg"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return ".mp3"
    if head[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return ".aac"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return ".m4a" if brand in (b"M4A ", b"M4B ") else (".mov" if brand == b"qt  " else ".mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm" if b"webm" in data[:4096] else ".mkv"
    if head.startswith(b"NIST_1A"):
        return ".sph"
    return ".bin"


def media_name(path: str | None, data: bytes | None, fallback: str) -> str:
    """A file name with an extension: the base name of ``path`` when it has one, else ``fallback`` + sniffed."""
    base = posixpath.basename(path or "")
    if base and posixpath.splitext(base)[1]:
        return base
    ext = sniff_extension(data) if data else ".bin"
    return (base or fallback) + ext


def is_media(name: str) -> bool:
    return posixpath.splitext(name.lower())[1] in MEDIA_EXTS


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def stem(name: str) -> str:
    """File name without folders and extension (``a/b/1089-134686-0000.flac`` -> ``1089-134686-0000``)."""
    base = posixpath.basename(name)
    for suffix in ARCHIVE_SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return posixpath.splitext(base)[0]
