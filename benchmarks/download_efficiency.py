"""How many bytes a 100-row sample costs, against the fixture Hub, next to naive baselines in the same run.

Parts (each prints its figures, the baseline and whether the targets hold):

1. parquet: the real engine (``BuildOptions`` + ``BuildRunner``, what ``reap-omni download`` runs) builds
   100 rows of ``librispeech`` from a fixture ``openslr/librispeech_asr``, served where the catalog's first
   source reads (its revision and ``<config>/<split>/``, today commit ``71cacbfb`` ``clean/train.100/``):
   10 shards x 1,000 rows, row groups
   of 100 rows (as the Hub's conversion writes audio), columns file/audio/text/speaker_id/chapter_id/id,
   16 kHz FLAC whose durations vary by speaker (about 2-15 s), 30-70 utterances per speaker, rows in
   speaker order. Media and manifest go to a temp dir. Floor = compressed bytes of the needed columns of the
   row groups the chosen rows live in (from the footers). Targets: >= 10 distinct shards by default
   (``--spread N``: >= min(10, N)), bytes served <= 1.2x floor, >= 10x fewer bytes than the naive baseline
   (download the whole split, keep the first 100 rows), measured in the same run.
2. zip: a ``--zip-gb`` GB stored zip of 500 videos (written once to ``--cache-dir``); take 20 videos.
   Target: served <= 1.2x (20 members + central directory); baseline: the whole archive.
3. tar.gz: first 20 members of a streamed tar.gz of incompressible videos. Target: bytes read <= 1.2x the
   compressed prefix that holds them; baseline: the whole archive.

Run: python benchmarks/download_efficiency.py [--spread N] [--seed S] [--workers W] [--zip-gb 2] [--skip-zip]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import random
import statistics
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import requests

from reap_omni.calibration_set.options import BuildOptions
from reap_omni.calibration_set.plan import per_dataset_plan
from reap_omni.calibration_set.runner import BuildRunner
from reap_omni.catalog.registry import get_dataset
from reap_omni.catalog.spec import SourceSpec
from reap_omni.fixtures.hub_server import HubServer
from reap_omni.fixtures.repos import card, flac_clip, mp4_clip, parquet_bytes, tar_bytes
from reap_omni.manifest.record import iter_records
from reap_omni.sources.factory import open_source
from reap_omni.sources.http import HttpClient
from reap_omni.sources.join import source_columns

MB = 1e6
REPO = "openslr/librispeech_asr"
SHARDS, ROWS_PER_SHARD, ROW_GROUP = 10, 1000, 100
FIXTURE_VERSION = 1
_WORDS = ("THE AND OF TO A IN HE THAT WAS IT HIS HAD YOU WITH AS FOR HER SHE NOT BUT AT ON BE HIM THEY ALL "
         "SAID WHICH THIS WERE SO FROM ONE THERE BY WOULD HAVE WHEN NO WHAT OR THEM AN WE COULD ME MY IF OUT "
         "LITTLE UPON TIME LIKE VERY MAN HOUSE NIGHT DOOR GREAT EYES AGAIN THOUGHT OLD HAND AWAY CAME")
WORDS = tuple(_WORDS.split())


def fmt(n: float) -> str:
    return f"{n / MB:,.2f} MB"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# -- parquet --------------------------------------------------------------------------------------------
def librispeech_split(cache: Path) -> tuple[dict[str, Path], dict]:
    """The fixture split on disk (built once into ``cache``): ``{repo path: file}`` and facts about it.

    LibriSpeech-like: speakers in order, 30-70 utterances each over 1-3 chapters; each speaker has a typical
    utterance length (3.5-11 s) and utterances vary around it (x0.55-1.4, kept within 1.5-15.5 s).
    FLAC clips come from a pool keyed by (duration rounded to 0.25 s, variant), real encodes at 16 kHz.
    """
    root = cache / f"librispeech_parquet_v{FIXTURE_VERSION}_{SHARDS}x{ROWS_PER_SHARD}_rg{ROW_GROUP}"
    meta_path = root / "fixture.json"
    paths = {f"clean/test/{s:04d}.parquet": root / "clean" / "test" / f"{s:04d}.parquet" for s in range(SHARDS)}
    files: dict[str, Path] = {"README.md": root / "README.md", **paths}
    if meta_path.exists():
        return files, json.loads(meta_path.read_text())
    t0 = time.perf_counter()
    rng = random.Random(12)
    rows: list[tuple[int, int, int, float]] = []  # speaker, chapter, utterance, seconds
    spk = 0
    spk_ids = rng.sample(range(61, 9000), 400)
    while len(rows) < SHARDS * ROWS_PER_SHARD:
        speaker, count, typical = spk_ids[spk], rng.randint(30, 70), rng.uniform(3.5, 11.0)
        chapters = sorted(rng.sample(range(100000, 300000), rng.randint(1, 3)))
        for u in range(count):
            chap = chapters[u * len(chapters) // count]
            dur = round(min(15.5, max(1.5, typical * rng.uniform(0.55, 1.4))) * 4) / 4
            rows.append((speaker, chap, u, dur))
        spk += 1
    rows = rows[: SHARDS * ROWS_PER_SHARD]
    (root / "clean" / "test").mkdir(parents=True, exist_ok=True)
    files["README.md"].write_bytes(card([("clean", "test", "clean/test/*.parquet")]))
    for s in range(SHARDS):
        cols: dict[str, list] = {k: [] for k in ("file", "audio", "text", "speaker_id", "chapter_id", "id")}
        for speaker, chap, u, dur in rows[s * ROWS_PER_SHARD : (s + 1) * ROWS_PER_SHARD]:
            uid = f"{speaker}-{chap}-{u:04d}"
            local = f"/fixture/LibriSpeech/test-clean/{speaker}/{chap}/{uid}.flac"
            cols["file"].append(local)
            cols["audio"].append({"bytes": flac_clip(int(dur * 4) * 8 + u % 8, dur), "path": f"{uid}.flac"})
            words = rng.choices(WORDS, k=max(3, round(dur * 2.7)))
            cols["text"].append(" ".join(words))
            cols["speaker_id"].append(speaker)
            cols["chapter_id"].append(chap)
            cols["id"].append(uid)
        tmp = paths[f"clean/test/{s:04d}.parquet"].with_suffix(".tmp")
        tmp.write_bytes(parquet_bytes(cols, row_group_size=ROW_GROUP))
        tmp.rename(paths[f"clean/test/{s:04d}.parquet"])
    durs = [r[3] for r in rows]
    meta = {"rows": len(rows), "speakers": len({r[0] for r in rows}), "mean_seconds": statistics.fmean(durs),
            "min_seconds": min(durs), "max_seconds": max(durs), "built_s": round(time.perf_counter() - t0, 1)}
    meta_path.write_text(json.dumps(meta))
    return files, meta


def row_group_floor(files: dict[str, Path], spec: SourceSpec, rows: set[tuple[str, int]]) -> tuple[int, int]:
    """Compressed bytes of the needed columns of the row groups holding ``rows`` ((file, row) pairs)."""
    needed = {c for v in spec.columns.values() for c in source_columns(v)}
    floor, groups = 0, 0
    for path in sorted({f for f, _ in rows}):
        md = pq.ParquetFile(files[path]).metadata
        first, wanted = 0, {r for f, r in rows if f == path}
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            if any(first <= r < first + rg.num_rows for r in wanted):
                groups += 1
                floor += sum(rg.column(j).total_compressed_size for j in range(rg.num_columns)
                             if rg.column(j).path_in_schema.split(".")[0] in needed)
            first += rg.num_rows
    return floor, groups


def bench_parquet(server: HubServer, cache: Path, spread: int | None, seed: int, workers: int,
                  rows_wanted: int = 100) -> bool:
    t0 = time.perf_counter()
    cached, facts = librispeech_split(cache)
    dataset = get_dataset("librispeech")
    spec = dataset.sources[0]
    assert spec.kind == "hf_parquet" and spec.repo == REPO
    # served where the catalog's first source reads (config/split folder at its revision: main's clean/train.100/
    # at the pinned commit); the cached shards are the same bytes whatever the folder is called
    revision, folder = spec.revision or "main", f"{spec.config}/{spec.split}"
    files = {p.replace("clean/test/", f"{folder}/"): f for p, f in cached.items() if p.endswith(".parquet")}
    server.add_repo(REPO, {"README.md": card([(spec.config, spec.split, f"{folder}/*.parquet")]),
                           **{p: str(f) for p, f in files.items()}}, revision=revision)
    split_bytes = sum(f.stat().st_size for p, f in files.items() if p.endswith(".parquet"))
    print(f"\n[parquet] fixture {REPO}: {SHARDS} shards x {ROWS_PER_SHARD:,} rows, row groups of {ROW_GROUP}, "
          f"{fmt(split_bytes)}; {facts['speakers']} speakers, utterances {facts['min_seconds']:.1f}-"
          f"{facts['max_seconds']:.1f} s (mean {facts['mean_seconds']:.1f} s), 16 kHz FLAC "
          f"(ready in {time.perf_counter() - t0:.1f}s)")
    dataset = msgspec.structs.replace(dataset, sources=(spec,))  # no fallback to the OpenSLR tar
    with tempfile.TemporaryDirectory(prefix="reap-omni-bench-") as tmp:
        opts = BuildOptions(output=Path(tmp) / "out", samples=rows_wanted, seed=seed, spread=spread,
                            workers=workers, quiet=True)
        out, err = io.StringIO(), io.StringIO()
        server.reset_counters()
        t0 = time.perf_counter()
        runner = BuildRunner(opts, out=out, err=err, licence_of=lambda name: dataset.licence)
        stats = runner.run(per_dataset_plan([dataset], rows_wanted))
        runner.finish()
        wall = time.perf_counter() - t0
        served = server.total_bytes
        parquet_served = server.bytes_served("*.parquet")
        recs = [r for _, r in iter_records(opts.manifest_path("audio"))]
        kept = sum(os.path.getsize(p) for r in recs for _, p in r.media_paths())
        counted = stats.datasets["librispeech"].bytes_downloaded
    if len(recs) != rows_wanted:
        print(f"  engine wrote {len(recs)}/{rows_wanted} rows: {err.getvalue().strip() or out.getvalue()}")
        return False
    chosen = {(r.source["file"], int(r.source["row"])) for r in recs}
    floor, groups = row_group_floor(files, spec, chosen)
    n_shards = len({f for f, _ in chosen})
    speakers = len({r.source.get("group") for r in recs})
    mean_s = statistics.fmean(r.duration or 0.0 for r in recs)

    # naive baseline: download the whole split, keep the first 100 rows
    server.reset_counters()
    t0 = time.perf_counter()
    first_rows = None
    for path in sorted(p for p in files if p.endswith(".parquet")):
        buf = io.BytesIO()
        with requests.get(server.resolve_url(REPO, path, revision), stream=True, timeout=60) as r:
            r.raise_for_status()
            for chunk in r.iter_content(1 << 20):
                if first_rows is None:  # only the first shard is kept: its first rows are the sample
                    buf.write(chunk)
        if first_rows is None:
            first_rows = pq.read_table(buf, columns=["speaker_id"]).slice(0, rows_wanted)
    base_wall, base_bytes = time.perf_counter() - t0, server.total_bytes
    assert first_rows is not None
    base_speakers = len(set(first_rows.column("speaker_id").to_pylist()))

    min_shards = 10 if spread is None else min(10, spread)
    mode = "default spread" if spread is None else f"--spread {spread}"
    print(f"  engine : BuildRunner ({mode}, seed {seed}, {workers} workers) wrote {len(recs)} rows from "
          f"{n_shards} shards, {speakers} speakers, {groups} row groups; wall {wall:.2f}s")
    print(f"  bytes  : served {fmt(served)} ({fmt(parquet_served)} parquet, engine counted {fmt(counted)}); "
          f"floor {fmt(floor)} = {served / floor:.3f}x floor; media kept {fmt(kept)} "
          f"({opts.media.audio_format}, {opts.media.sample_rate} Hz)")
    print(f"  sample : mean duration {mean_s:.2f} s vs split mean {facts['mean_seconds']:.2f} s "
          f"(cheaper-half row groups first)")
    print(f"  naive  : whole split {fmt(base_bytes)}, first {rows_wanted} rows from 1 shard, {base_speakers} "
          f"speakers, wall {base_wall:.2f}s -> {base_bytes / served:.1f}x the engine's bytes")
    checks = [
        (f">= {min_shards} distinct shards", n_shards >= min_shards, f"{n_shards}"),
        ("served <= 1.2x row-group floor", served <= 1.2 * floor, f"{served / floor:.3f}x"),
        (">= 10x fewer bytes than naive", base_bytes >= 10 * served, f"{base_bytes / served:.1f}x"),
    ]
    for name, ok, got in checks:
        print(f"  target : {name}: {got} {verdict(ok)}")
    return all(ok for _, ok, _ in checks)


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
    ap.add_argument("--spread", type=int, default=None,
                    help="row groups the 100 parquet rows are spread over (default: the engine's own rule)")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed of the parquet build (default 0)")
    ap.add_argument("--workers", type=int, default=4, help="download workers of the parquet build (default 4)")
    ap.add_argument("--zip-gb", type=float, default=2.0, help="size of the fixture zip in GB (default 2)")
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "reap-omni-bench"))
    ap.add_argument("--skip-zip", action="store_true")
    args = ap.parse_args(argv)
    for var in ("HF_HUB_DISABLE_TELEMETRY", "HF_UPDATE_DOWNLOAD_COUNTS", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(var, "1" if var != "HF_UPDATE_DOWNLOAD_COUNTS" else "0")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        os.environ.pop(var, None)  # the fixture Hub needs none; never send a real one
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    results = []
    with HubServer() as server:
        os.environ["HF_ENDPOINT"] = server.endpoint
        results.append(bench_parquet(server, cache, args.spread, args.seed, args.workers))
        if not args.skip_zip:
            results.append(bench_zip(server, args.zip_gb, cache))
        results.append(bench_tar(server))
    print("\nall targets met" if all(results) else "\nsome targets missed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
