"""How many bytes a 100-row sample costs, against the fixture Hub, next to naive baselines in the same run.

Parts (each prints its figures, the baseline and whether the target holds):

1. parquet: a LibriSpeech-shaped repo of 10 shards x 1,000 rows, row groups of 100 rows (as the Hub's
   conversion writes audio). Build 100 rows spread over ``--spread`` row groups (default 10, one per shard).
   Floor = compressed bytes of the needed columns of the row groups the chosen rows live in. Targets: >= 10
   distinct shards by default, served <= 1.2x floor, >= 10x fewer bytes than downloading the whole split.
2. zip: a ``--zip-gb`` GB stored zip of 500 videos (written once to ``--cache-dir``); take 20 videos.
   Target: served <= 1.2x (20 members + central directory); baseline: the whole archive.
3. tar.gz: first 20 members of a streamed tar.gz of incompressible videos. Target: bytes read <= 1.2x the
   compressed prefix that holds them; baseline: the whole archive.

Run: python benchmarks/download_efficiency.py [--spread N] [--zip-gb 2] [--skip-zip]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import requests

from reap_omni.catalog.spec import SourceSpec
from reap_omni.fixtures.hub_server import HubServer
from reap_omni.fixtures.repos import librispeech_parquet_repo, mp4_clip, tar_bytes
from reap_omni.sources.factory import open_source
from reap_omni.sources.http import HttpClient

MB = 1e6


def fmt(n: float) -> str:
    return f"{n / MB:,.2f} MB"


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def bench_parquet(server: HubServer, spread: int, rows_wanted: int = 100) -> bool:
    repo = "openslr/librispeech_asr"
    t0 = time.perf_counter()
    files = librispeech_parquet_repo(shards=10, rows_per_shard=1000, row_group_size=100, speakers_every=50,
                                     pool=128, vary=True)
    server.add_repo(repo, files)
    print(f"\n[parquet] fixture: 10 shards x 1,000 rows, row groups of 100, {fmt(sum(map(len, files.values())))}"
          f" (built in {time.perf_counter() - t0:.1f}s)")
    spec = SourceSpec(kind="hf_parquet", repo=repo, config="clean", split="test", files=("clean/test/*.parquet",),
                      columns={"audio": "audio", "text": "text", "id": "id", "group": "speaker_id"})
    server.reset_counters()
    t0 = time.perf_counter()
    src = open_source(spec, dataset="librispeech", client=HttpClient())
    units = src.units()
    by_shard = {}
    for u in units:
        by_shard.setdefault(u.shard, []).append(u)
    # a byte-aware pick, as the sampler can make from cost_bytes before fetching anything: spread row groups
    # round-robin over shards (diversity), the cheapest remaining row group of each shard first
    shards = sorted(by_shard)
    ranked = {s: sorted(by_shard[s], key=lambda u: u.cost_bytes) for s in shards}
    chosen = [ranked[shards[i % len(shards)]][i // len(shards)] for i in range(spread)]
    mean_rg = sum(u.cost_bytes for u in units) / len(units)
    per_unit = -(-rows_wanted // len(chosen))
    rows, kept = [], 0
    for u in chosen:
        for c in itertools.islice(src.read(u), per_unit):
            if len(rows) < rows_wanted:
                rows.append(c)
                kept += len(c.media["audio"].data)
    wall = time.perf_counter() - t0
    served = server.total_bytes
    floor = sum(u.cost_bytes for u in chosen)
    n_shards = len({c.provenance.file for c in rows})
    speakers = len({c.group for c in rows})
    # baseline: download the whole split, keep the first 100 rows
    server.reset_counters()
    t0 = time.perf_counter()
    for path in sorted(p for p in files if p.endswith(".parquet")):
        with requests.get(server.resolve_url(repo, path), stream=True) as r:
            for _ in r.iter_content(1 << 20):
                pass
    base_wall, base_bytes = time.perf_counter() - t0, server.total_bytes
    print(f"  sample : {len(rows)} rows from {n_shards} shards, {speakers} speakers, {len(chosen)} row groups "
          f"(cost-aware pick: {fmt(floor / len(chosen))} per row group vs {fmt(mean_rg)} mean)")
    print(f"  served : {fmt(served)} (client counted {fmt(src.bytes_read)}), floor {fmt(floor)} "
          f"= {served / floor:.3f}x floor, media kept {fmt(kept)}, wall {wall:.2f}s")
    print(f"  naive  : whole split {fmt(base_bytes)}, first 100 rows from 1 shard, wall {base_wall:.2f}s "
          f"-> {base_bytes / served:.1f}x more bytes")
    ok = served <= 1.2 * floor and base_bytes >= 10 * served and (spread < 10 or n_shards >= 10)
    print(f"  targets: served <= 1.2x floor, >= 10x below naive, >= 10 shards (spread>=10): {verdict(ok)}")
    return ok


def _big_zip(cache: Path, gb: float, members: int = 500) -> Path:
    member_bytes = int(gb * 1e9 / members)
    path = cache / f"videos_{members}x{member_bytes}.zip"
    if not path.exists():
        from reap_omni.fixtures.repos import write_big_zip

        t0 = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        write_big_zip(tmp, members=members, member_bytes=member_bytes, video=mp4_clip(0, seconds=2.0))
        tmp.rename(path)
        print(f"  (wrote {fmt(path.stat().st_size)} fixture zip in {time.perf_counter() - t0:.1f}s)")
    return path


def bench_zip(server: HubServer, gb: float, cache: Path, take: int = 20) -> bool:
    path = _big_zip(cache, gb)
    server.add_repo("lmms-eval/Video-MME", {"videos_chunked_01.zip": path})
    print(f"\n[zip] fixture: {fmt(path.stat().st_size)} stored zip of 500 videos")
    spec = SourceSpec(kind="zip_range", repo="lmms-eval/Video-MME", files=("videos_chunked_01.zip",),
                      columns={"video": "video"})
    server.reset_counters()
    t0 = time.perf_counter()
    src = open_source(spec, dataset="videomme", client=HttpClient())
    units = src.units()
    step = len(units) // take
    chosen = units[::step][:take]
    kept = sum(len(c.media["video"].data) for u in chosen for c in src.read(u))
    wall = time.perf_counter() - t0
    served = server.total_bytes
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        cd = path.stat().st_size - max(i.header_offset + 30 + len(i.filename) + len(i.extra) + i.compress_size
                                       for i in infos)
    floor = sum(u.cost_bytes for u in chosen) + cd
    server.reset_counters()
    t0 = time.perf_counter()
    with requests.get(server.resolve_url("lmms-eval/Video-MME", "videos_chunked_01.zip"), stream=True) as r:
        for _ in r.iter_content(4 << 20):
            pass
    base_wall, base_bytes = time.perf_counter() - t0, server.total_bytes
    print(f"  sample : {take} videos, kept {fmt(kept)}; served {fmt(served)}, floor (members + central directory "
          f"{fmt(cd)}) {fmt(floor)} = {served / floor:.3f}x, wall {wall:.2f}s")
    print(f"  naive  : whole archive {fmt(base_bytes)}, wall {base_wall:.2f}s -> {base_bytes / served:.1f}x more")
    ok = served <= 1.2 * floor
    print(f"  target : served <= 1.2x (members + central directory): {verdict(ok)}")
    return ok


def _gz_prefix(archive: bytes, upto: int) -> int:
    """Compressed bytes needed before the decompressed stream reaches offset ``upto``."""
    d = zlib.decompressobj(wbits=31)
    produced = 0
    step = 4096
    for pos in range(0, len(archive), step):
        produced += len(d.decompress(archive[pos : pos + step]))
        if produced >= upto:
            return pos + step
    return len(archive)


def bench_tar(server: HubServer, take: int = 20, members: int = 200, member_bytes: int = 400_000) -> bool:
    pad = os.urandom(member_bytes)
    video = mp4_clip(1)
    names = [f"val/clip_{i:04d}.mp4" for i in range(members)]
    archive = tar_bytes([(n, video + pad[i * 13 :]) for i, n in enumerate(names)])
    url = server.add_file("kinetics/400/val/part_0.tar.gz", archive)
    print(f"\n[tar.gz] fixture: {fmt(len(archive))}, {members} incompressible members")
    spec = SourceSpec(kind="http_tar", url=url, columns={"video": "id", "id": "id"})
    server.reset_counters()
    t0 = time.perf_counter()
    src = open_source(spec, dataset="kinetics400", client=HttpClient())
    (unit,) = src.units()
    it = src.read(unit)
    got = list(itertools.islice(it, take))
    it.close()
    wall = time.perf_counter() - t0
    with tarfile.open(fileobj=__import__("io").BytesIO(archive), mode="r:gz") as tf:
        infos = [i for i in tf.getmembers() if i.isfile()]
    end = infos[take - 1].offset_data + infos[take - 1].size
    prefix = _gz_prefix(archive, end)
    read, served = src.bytes_read, server.total_bytes
    print(f"  sample : first {len(got)} members; client read {fmt(read)}, server sent {fmt(served)} (incl. socket "
          f"buffers), prefix holding them {fmt(prefix)} = {read / prefix:.3f}x, wall {wall:.2f}s")
    print(f"  naive  : whole archive {fmt(len(archive))} -> {len(archive) / read:.1f}x more")
    ok = read <= 1.2 * prefix
    print(f"  target : bytes read <= 1.2x prefix: {verdict(ok)}")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spread", type=int, default=10, help="row groups the 100 rows are spread over (default 10)")
    ap.add_argument("--zip-gb", type=float, default=2.0, help="size of the fixture zip in GB (default 2)")
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "reap-omni-bench"))
    ap.add_argument("--skip-zip", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    results = []
    with HubServer() as server:
        os.environ["HF_ENDPOINT"] = server.endpoint
        results.append(bench_parquet(server, args.spread))
        if not args.skip_zip:
            results.append(bench_zip(server, args.zip_gb, cache))
        results.append(bench_tar(server))
    print("\nall targets met" if all(results) else "\nsome targets missed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
