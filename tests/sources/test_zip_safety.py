"""Zip members on hostile input: bombs stop at the member limit in bounded memory, unsafe paths refuse the zip."""

from __future__ import annotations

import io
import stat
import struct
import tracemalloc
import zipfile

import pytest

from reap_omni.catalog.spec import SourceSpec
from reap_omni.fixtures.repos import mp4_clip
from reap_omni.sources.archive_safety import UnsafeArchive
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.factory import open_source
from reap_omni.sources.http import HttpClient
from reap_omni.sources.zip_members import read_member


def _zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED, *, link: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            if name == link:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data, compress_type=method)
    return buf.getvalue()


def _lie_about_size(archive: bytes, member: str, size: int) -> bytes:
    """The central directory entry of ``member`` claims ``size`` uncompressed bytes."""
    entry = archive.index(b"PK\x01\x02")
    while archive[entry + 46 : entry + 46 + len(member)] != member.encode():
        entry = archive.index(b"PK\x01\x02", entry + 4)
    return archive[: entry + 24] + struct.pack("<I", size) + archive[entry + 28 :]


def _source(hub_server, archive: bytes, **options):
    url = hub_server.add_file("hostile/clips.zip", archive)
    return open_source(SourceSpec(kind="zip_range", url=url, options=options), client=HttpClient(sleep=lambda s: None))


def test_a_bomb_over_the_limit_is_one_line_for_its_unit_and_the_others_still_read(hub_server):
    bomb = bytes(64 << 20)  # 64 MiB of zeros deflate to ~64 KiB
    src = _source(hub_server, _zip([("a/good.mp4", mp4_clip(0)), ("a/bomb.mp4", bomb)]), max_member_bytes=8 << 20)
    units = {u.info["member"]: u for u in src.units()}
    (good,) = src.read(units["a/good.mp4"])
    assert good.media["video"].data == mp4_clip(0)
    with pytest.raises(UnsafeArchive) as err:
        list(src.read(units["a/bomb.mp4"]))
    message = str(err.value)
    assert err.value.reason == "unsafe_archive" and "\n" not in message
    assert "'a/bomb.mp4' is 67108864 bytes, over the 8388608-byte limit" in message
    assert "options.max_member_bytes" in message


def test_a_lying_central_directory_stops_inflating_at_the_declared_size_in_bounded_memory():
    archive = _lie_about_size(_zip([("bomb.flac", bytes(256 << 20))]), "bomb.flac", 1 << 20)
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        info = zf.getinfo("bomb.flac")
    assert info.file_size == 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeArchive, match="inflates past its declared 1048576 bytes"):
            read_member(io.BytesIO(archive), info, archive="x.zip", limit=1 << 30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20  # 256 MiB inflated would show; the cap plus one chunk does not


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_members_inflate_in_chunks_for_every_supported_method(method, monkeypatch):
    import reap_omni.sources.zip_members as zm

    monkeypatch.setattr(zm, "IN_CHUNK", 1000)  # many small reads and decompressor calls
    monkeypatch.setattr(zm, "OUT_CHUNK", 777)
    data = mp4_clip(1) + bytes(50_000) + mp4_clip(2)
    archive = _zip([("v/clip.mp4", data)], method)
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        info = zf.getinfo("v/clip.mp4")
    assert read_member(io.BytesIO(archive), info, archive="x.zip", limit=1 << 20) == data
    with pytest.raises(UnsafeArchive, match="over the 1000-byte limit"):
        read_member(io.BytesIO(archive), info, archive="x.zip", limit=1000)


def test_a_damaged_member_is_a_layout_error_not_a_traceback():
    archive = bytearray(_zip([("v/clip.mp4", mp4_clip(0))], zipfile.ZIP_STORED))
    archive[60] ^= 0xFF  # a byte of the member's data: the CRC no longer matches
    with zipfile.ZipFile(io.BytesIO(bytes(archive))) as zf:
        info = zf.getinfo("v/clip.mp4")
    with pytest.raises(SourceUnavailable, match="fails its CRC-32 check") as err:
        read_member(io.BytesIO(bytes(archive)), info, archive="x.zip", limit=1 << 20)
    assert err.value.reason == "layout"


@pytest.mark.parametrize("name", ["../x.mp4", "/abs.mp4", "C:\\x.mp4", "a/../../x.mp4", "\\\\host\\x.mp4"])
def test_unsafe_member_paths_refuse_the_zip_like_a_tar(hub_server, name):
    src = _source(hub_server, _zip([("ok/a.mp4", mp4_clip(0)), (name, mp4_clip(1))]))
    with pytest.raises(SourceUnavailable) as err:
        src.units()
    assert err.value.reason == "unsafe_archive" and "refused" in str(err.value) and repr(name) in str(err.value)


def test_a_symlink_member_or_a_local_header_naming_another_member_refuses_the_zip(hub_server):
    src = _source(hub_server, _zip([("ok/a.mp4", mp4_clip(0)), ("ok/b.mp4", b"/etc/passwd")], link="ok/b.mp4"))
    with pytest.raises(UnsafeArchive, match="is a link; archive refused"):
        src.units()
    archive = _zip([("ok/a.mp4", mp4_clip(0))], zipfile.ZIP_STORED)
    local = archive.replace(b"ok/a.mp4", b"ok/e.mp4", 1)  # the local header comes first
    with zipfile.ZipFile(io.BytesIO(local)) as zf:
        info = zf.getinfo("ok/a.mp4")
    with pytest.raises(UnsafeArchive, match="named 'ok/e.mp4' in its local header"):
        read_member(io.BytesIO(local), info, archive="x.zip", limit=1 << 20)
