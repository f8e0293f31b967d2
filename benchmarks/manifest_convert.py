#!/usr/bin/env python3
"""Throughput and peak memory of ``csv``, ``json`` (array), ``merge --shuffle`` and ``validate`` next to
plain stdlib baselines measured in the same run.

Generates N rows (default 300,000) pointing at one real audio file, then runs each measurement in its
own subprocess so its peak RSS (VmHWM) is its own. The baselines do the same job the obvious way:
``csv.DictReader`` + ``json.dumps``; ``json.load`` of the whole array; reading every line into a list and
``random.shuffle``; ``json.loads`` per line with the same existence check.

    python benchmarks/manifest_convert.py               # 300k rows
    python benchmarks/manifest_convert.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def generate(d: str, rows: int) -> None:
    from reap_omni.fixtures.media import make_audio

    make_audio(os.path.join(d, "a.flac"), seconds=0.1)
    with open(os.path.join(d, "in.csv"), "w") as f:
        f.write("id,caption,path\n")
        for i in range(rows):
            f.write(f'u{i},"caption number {i}, with a comma",a.flac\n')
    with open(os.path.join(d, "in.json"), "w") as f:
        f.write("[\n")
        for i in range(rows):
            sep = ",\n" if i < rows - 1 else "\n"
            f.write(json.dumps({"id": f"u{i}", "text": f"caption number {i}", "meta": {"path": "a.flac"}}) + sep)
        f.write("]\n")
    audio = os.path.join(d, "a.flac")
    with open(os.path.join(d, "m.jsonl"), "w") as f:
        for i in range(rows):
            f.write(json.dumps({"id": f"u{i}", "modality": "audio", "text": f"caption {i}", "audio": audio}) + "\n")


def _check(row: dict) -> None:
    if not isinstance(row.get("id"), str) or row.get("modality") not in ("audio", "video", "mixed", "image", "text"):
        raise ValueError("bad row")


def task(name: str, d: str) -> None:
    from reap_omni.cli import run

    j = lambda *p: os.path.join(d, *p)  # noqa: E731
    if name == "csv":
        assert run(["csv", j("in.csv"), j("o.jsonl"), "--text-col", "caption", "--audio-col", "path"]) == 0
    elif name == "csv-baseline":
        import csv

        with open(j("in.csv"), newline="", encoding="utf-8-sig") as f, open(j("o.jsonl"), "w") as out:
            for r in csv.DictReader(f):
                path = os.path.abspath(os.path.join(d, r["path"]))
                if not os.path.isfile(path):
                    raise SystemExit("missing")
                out.write(json.dumps({"id": r["id"], "modality": "audio", "text": r["caption"], "audio": path}) + "\n")
    elif name == "json":
        assert run(["json", j("in.json"), j("o.jsonl"), "--text-key", "text", "--audio-key", "meta.path"]) == 0
    elif name == "json-baseline":
        with open(j("in.json")) as f:
            data = json.load(f)
        with open(j("o.jsonl"), "w") as out:
            for r in data:
                path = os.path.abspath(os.path.join(d, r["meta"]["path"]))
                if not os.path.isfile(path):
                    raise SystemExit("missing")
                out.write(json.dumps({"id": r["id"], "modality": "audio", "text": r["text"], "audio": path}) + "\n")
    elif name == "merge-shuffle":
        assert run(["merge", j("m.jsonl"), "-o", j("o.jsonl"), "--shuffle", "--seed", "1"]) == 0
    elif name == "merge-shuffle-baseline":
        import random

        with open(j("m.jsonl")) as f:
            lines = f.readlines()
        seen = set()
        for line in lines:
            row = json.loads(line)
            _check(row)
            seen.add(row["id"])
        random.Random(1).shuffle(lines)
        with open(j("o.jsonl"), "w") as out:
            out.writelines(lines)
    elif name == "validate":
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            assert run(["validate", j("m.jsonl")]) == 0
    elif name == "validate-baseline":
        seen = set()
        with open(j("m.jsonl")) as f:
            for line in f:
                row = json.loads(line)
                _check(row)
                if row["id"] in seen or not os.path.isfile(row["audio"]):
                    raise SystemExit("invalid")
                seen.add(row["id"])
    else:
        raise SystemExit(f"unknown task {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.task:
        t0 = time.perf_counter()
        task(args.task, args.dir)
        print(json.dumps({"seconds": time.perf_counter() - t0, "peak_mb": peak_rss_mb()}))
        return
    with tempfile.TemporaryDirectory() as d:
        generate(d, args.rows)
        sizes = {n: os.path.getsize(os.path.join(d, n)) / 2**20 for n in ("in.csv", "in.json", "m.jsonl")}
        print(f"{args.rows:,} rows; inputs: " + ", ".join(f"{n} {s:.0f} MiB" for n, s in sizes.items()))
        print(f"{'task':24} {'seconds':>8} {'rows/s':>10} {'peak MiB':>9}")
        for name in ("csv", "json", "merge-shuffle", "validate"):
            for variant in (name, f"{name}-baseline"):
                proc = subprocess.run(
                    [sys.executable, __file__, "--task", variant, "--dir", d], capture_output=True, text=True
                )
                if proc.returncode:
                    print(f"{variant:24} failed: {proc.stderr.strip()[-300:]}")
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"{variant:24} {r['seconds']:8.2f} {args.rows / r['seconds']:10,.0f} {r['peak_mb']:9.0f}")


if __name__ == "__main__":
    main()
