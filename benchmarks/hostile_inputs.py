#!/usr/bin/env python3
"""Memory and time on hostile input: zip bombs and a 6-hour silent FLAC, next to normal inputs in the same run.

1. zip: one member read through the real ``ZipRangeSource`` from the fixture Hub (zips written to a temp dir).
   Baseline: a normal 64 MiB stored member. Bombs: 1 GiB + 1 MiB of zeros deflated to ~1 MB (over the default
   1 GiB ``max_member_bytes``; the directory says so), the same bomb with a central directory that lies (says
   1 MiB), and for contrast the old way, ``zipfile.ZipFile.read`` of the bomb. Figures: peak RSS growth during
   the read (VmHWM reset through ``/proc/self/clear_refs``; the fixture server runs in this process, so the
   HTTP rows include its buffers and the client's; a local-file row shows the reader alone), seconds, bytes
   served, outcome.
2. audio: ``normalize_audio`` with its default 600 s limit on a 6-hour silent 16 kHz FLAC (~4 MB) whose
   header states its length, and on the same file with the length hidden (STREAMINFO total samples = 0);
   baseline: a 10 s silent FLAC normalised in full. ``--full`` also times the 6-hour file with no limit
   (what happened before: a 690 MB WAV).

    python benchmarks/hostile_inputs.py [--full] [--skip-old]
"""

from __future__ import annotations

import argparse
import gc
import os
import struct
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from reap_omni.catalog.spec import SourceSpec  # noqa: E402
from reap_omni.errors import ReapOmniError  # noqa: E402
from reap_omni.fixtures.hub_server import HubServer  # noqa: E402
from reap_omni.fixtures.media import make_silence  # noqa: E402
from reap_omni.media.audio import normalize_audio  # noqa: E402
from reap_omni.sources.factory import open_source  # noqa: E402
from reap_omni.sources.http import HttpClient  # noqa: E402
from reap_omni.sources.zip_members import read_member  # noqa: E402

MiB = 1 << 20


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def measure(fn: Callable[[], str]) -> tuple[float, float, str]:
    """(peak RSS growth in MiB, seconds, outcome) of ``fn``; VmHWM is reset first so the peak is its own."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass
    before = _status("VmRSS")
    t0 = time.perf_counter()
    outcome = fn()
    seconds = time.perf_counter() - t0
    return (_status("VmHWM") - before) / MiB, seconds, outcome


def write_zip(path: Path, name: str, size: int, *, zeros: bool) -> Path:
    """A zip with one member of ``size`` bytes (zeros, deflated; or random, stored), streamed to disk."""
    method = zipfile.ZIP_DEFLATED if zeros else zipfile.ZIP_STORED
    block = bytes(64 * MiB) if zeros else os.urandom(64 * MiB)
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = method
        with zf.open(info, "w", force_zip64=size > 2**31 - 1) as out:
            left = size
            while left:
                n = min(left, len(block))
                out.write(block[:n])
                left -= n
    return path


def lie_about_size(src: Path, dst: Path, size: int) -> Path:
    """A copy of the one-member zip ``src`` whose central directory says the member is ``size`` bytes."""
    data = bytearray(src.read_bytes())
    entry = data.rindex(b"PK\x01\x02")
    data[entry + 24 : entry + 28] = struct.pack("<I", size)
    dst.write_bytes(bytes(data))
    return dst


def read_via_source(server: HubServer, url: str) -> Callable[[], str]:
    def run() -> str:
        src = open_source(SourceSpec(kind="zip_range", url=url), client=HttpClient(sleep=lambda s: None))
        (unit,) = src.units()
        try:
            (cand,) = list(src.read(unit))
        except ReapOmniError as exc:
            return f"refused: {str(exc).split(': ', 1)[-1][:90]}"
        return f"read {len(cand.media['video'].read()) / MiB:,.0f} MiB"

    return run


def bench_zip(tmp: Path, skip_old: bool) -> None:
    print("== zip members (ZipRangeSource over the fixture Hub; default max_member_bytes = 1 GiB)")
    t0 = time.perf_counter()
    normal = write_zip(tmp / "normal.zip", "v/normal.mp4", 64 * MiB, zeros=False)
    bomb = write_zip(tmp / "bomb.zip", "v/bomb.mp4", (1 << 30) + MiB, zeros=True)
    liar = lie_about_size(bomb, tmp / "liar.zip", MiB)
    print(f"   fixtures written in {time.perf_counter() - t0:.1f}s: normal.zip {normal.stat().st_size / MiB:.0f} MiB, "
          f"bomb.zip {bomb.stat().st_size / MiB:.2f} MiB (1025 MiB inflated), liar.zip (directory says 1 MiB)")
    print(f"   {'case':34}{'peak RSS +MiB':>14}{'seconds':>9}{'served MiB':>12}  outcome")
    with HubServer() as server:
        cases: list[tuple[str, Callable[[], str], str]] = []
        for label, path in (("baseline: normal 64 MiB member", normal), ("bomb, honest directory", bomb),
                            ("bomb, lying directory", liar)):
            url = server.add_file(f"bench/{path.name}", path)
            cases.append((label, read_via_source(server, url), f"*{path.name}"))
        for label, fn, pattern in cases:
            served0 = server.bytes_served(pattern)
            rss, secs, outcome = measure(fn)
            served = (server.bytes_served(pattern) - served0) / MiB
            print(f"   {label:34}{rss:14.1f}{secs:9.3f}{served:12.2f}  {outcome}")
    def local_read() -> str:  # the same reader without HTTP: what holding the member itself costs
        with zipfile.ZipFile(normal) as zf, open(normal, "rb") as f:
            return f"read {len(read_member(f, zf.infolist()[0], archive='normal.zip', limit=1 << 30)) / MiB:,.0f} MiB"

    rss, secs, outcome = measure(local_read)
    print(f"   {'normal member, local file, no HTTP':34}{rss:14.1f}{secs:9.3f}{'(local)':>12}  {outcome}")
    if not skip_old:
        def old_way() -> str:
            with zipfile.ZipFile(bomb) as zf:
                return f"read {len(zf.read('v/bomb.mp4')) / MiB:,.0f} MiB"

        rss, secs, outcome = measure(old_way)
        print(f"   {'old way: zipfile.read of the bomb':34}{rss:14.1f}{secs:9.3f}{'(local)':>12}  {outcome}")


def bench_audio(tmp: Path, full: bool) -> None:
    print("== audio: normalize_audio(..., max_duration=600 by default) -> 16 kHz WAV")
    t0 = time.perf_counter()
    six = make_silence(seconds=6 * 3600, sample_rate=16000)
    hidden = make_silence(seconds=6 * 3600, sample_rate=16000, hide_duration=True)
    short = make_silence(seconds=10, sample_rate=16000)
    print(f"   fixtures made in {time.perf_counter() - t0:.1f}s: 6-hour silent FLAC {len(six) / MiB:.2f} MiB")
    out = tmp / "rows"
    out.mkdir()

    def normalise(data: bytes, name: str, **kw) -> Callable[[], str]:
        def run() -> str:
            dst = out / f"{name}.wav"
            try:
                res = normalize_audio(data, dst, name=f"{name}.flac", **kw)
            except ReapOmniError as exc:
                outcome = f"rejected ({getattr(exc, 'reason', '?')}): {str(exc).split(': ', 1)[-1]}"
            else:
                outcome = f"wrote {res.duration:,.0f}s, {dst.stat().st_size / MiB:,.1f} MiB"
            files = len(list(out.iterdir()))
            for p in out.iterdir():
                p.unlink()
            return f"{outcome}; files written: {files}"

        return run

    cases = [("baseline: 10 s silent FLAC", normalise(short, "short")),
             ("6 h FLAC, header states length", normalise(six, "six")),
             ("6 h FLAC, length hidden", normalise(hidden, "hidden"))]
    if full:
        cases.append(("6 h FLAC, no limit (before)", normalise(six, "unlimited", max_duration=None)))
    print(f"   {'case':34}{'peak RSS +MiB':>14}{'seconds':>9}  outcome")
    for label, fn in cases:
        rss, secs, outcome = measure(fn)
        print(f"   {label:34}{rss:14.1f}{secs:9.3f}  {outcome}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also normalise the 6-hour FLAC with no limit")
    ap.add_argument("--skip-old", action="store_true", help="skip zipfile.read of the bomb (~1 GiB of RAM)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        bench_zip(Path(d), args.skip_old)
        bench_audio(Path(d), args.full)


if __name__ == "__main__":
    main()
