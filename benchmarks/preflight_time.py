"""Time to the first error for a truncated shard: the header checks (``prune/preflight.py``) vs loading.

An interrupted download used to be found by ``from_pretrained``, after loading the shards before the broken
one (minutes on the 60 GB model). Measured here, each the median of ``--repeat`` runs:

* ``preflight``: ``check_model`` on the tiny Qwen3-Omni (8 shards) with one thinker shard cut in half, in
  process (the imports already done), and the whole CLI (``python -m reap_omni prune --plan-only``, a fresh
  interpreter: Python start and imports included) until it exits with the one-line error;
* ``baseline``: ``from_pretrained`` on the same folder (what the load did) until it raises, and a fresh
  interpreter importing torch and transformers (what the CLI paid before its first check could start);
* ``16 x 4 GB``: ``read_header`` over 16 sparse shards whose headers each claim a 4 GB tensor, the third
  truncated to 1.2 GB (sparse files: no disk is used), to the first error, and over all 16 intact.

    python benchmarks/preflight_time.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _broken_tiny(work: Path) -> tuple[Path, str]:
    from reap_omni.model.tiny import save_tiny_checkpoint

    model = save_tiny_checkpoint(work / "tiny", kind="full")
    shard = json.loads((model / "model.safetensors.index.json").read_text())["weight_map"][
        "thinker.model.layers.3.mlp.gate.weight"]
    path = model / shard
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return model, shard


def _expect_error(fn, exc_types) -> None:
    try:
        fn()
    except exc_types:
        return
    raise AssertionError("no error raised for a truncated shard")


def _sparse_shards(work: Path, n: int = 16, size: int = 4_000_000_000) -> list[Path]:
    paths = []
    elements = size // 4
    for i in range(n):
        header = json.dumps({"w": {"dtype": "F32", "shape": [elements], "data_offsets": [0, elements * 4]}}).encode()
        header += b" " * (-len(header) % 8)
        p = work / f"model-{i + 1:05d}-of-{n:05d}.safetensors"
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header)
            f.truncate(8 + len(header) + (1_200_000_000 if i == 2 else elements * 4))
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from reap_omni.errors import ReapOmniError
    from reap_omni.model.preflight import check_model
    from reap_omni.model.st_stream import read_header

    work = Path(tempfile.mkdtemp(prefix="preflight-time-"))
    try:
        model, shard = _broken_tiny(work)
        out: dict[str, object] = {"truncated_shard": shard}
        out["preflight_in_process_s"] = _median_seconds(
            lambda: _expect_error(lambda: check_model(model, "thinker"), ReapOmniError), args.repeat)
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        cli = [sys.executable, "-m", "reap_omni", "prune", "--model-path", str(model), "--plan-only"]

        def run_cli() -> None:
            proc = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=600)
            assert proc.returncode == 2 and "truncated" in proc.stderr, proc.stderr[-2000:]
            out["cli_error_line"] = proc.stderr.strip()

        out["preflight_cli_s"] = _median_seconds(run_cli, args.repeat)

        from transformers import Qwen3OmniMoeForConditionalGeneration

        def load() -> None:
            Qwen3OmniMoeForConditionalGeneration.from_pretrained(model, dtype="float32", enable_audio_output=False)

        out["baseline_from_pretrained_s"] = _median_seconds(lambda: _expect_error(load, Exception), args.repeat)
        imports = [sys.executable, "-c", "import torch, transformers"]
        out["baseline_cli_imports_s"] = _median_seconds(lambda: subprocess.run(imports, check=True, timeout=600),
                                                        args.repeat)

        big = work / "big"
        big.mkdir()
        paths = _sparse_shards(big)

        def scan(ps) -> None:
            for p in ps:
                read_header(p)

        out["16x4GB_first_error_s"] = _median_seconds(lambda: _expect_error(lambda: scan(paths), ReapOmniError),
                                                      args.repeat)
        intact = [p for i, p in enumerate(paths) if i != 2]
        out["15x4GB_all_headers_s"] = _median_seconds(lambda: scan(intact), args.repeat)
        try:
            read_header(paths[2])
        except ReapOmniError as exc:
            out["16x4GB_error_line"] = str(exc).replace(str(big) + "/", "")
        print(json.dumps(out, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
