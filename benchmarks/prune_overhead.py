#!/usr/bin/env python3
"""Cost of REAP-OMNI pruning on a small random Qwen3-Omni-MoE model, on CPU.

1. Observation overhead: forward time with the REAP observer attached / plain forward time (target <= 1.5x).
   The observer reuses the model's own expert computation (it swaps in an instrumented copy of the experts
   kernel), so it adds no expert matmuls: only the norms of the routed outputs and two scatter-adds per layer.
   Plain and observed forwards alternate, so that load from other processes hits both alike.
2. Surgery memory: peak RSS of the checkpoint rewrite (in a fresh process) / largest shard size (target <= 1.5x).

Prints the figures; asserts nothing. Run: python benchmarks/prune_overhead.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


#: Two shapes: "moe-heavy" (routed experts ~65% of the FLOPs, a worst case) and "qwen3-omni" (the 30B-A3B
#: thinker's proportions scaled 8x down in width: hidden 2048->256, expert 768->96, 128 experts top-8,
#: q 32x128 -> 8x64, kv 4x128 -> 1x64; routed experts are about half of the text FLOPs, as in the real model).
SHAPES = {
    "moe-heavy": dict(num_experts=32, top_k=4, hidden=256, moe_intermediate=256, layers=4),
    "qwen3-omni": dict(num_experts=128, top_k=8, hidden=256, moe_intermediate=96, layers=4, heads=8, kv_heads=1,
                       head_dim=64),
}


def forward_overhead(shape: str, seq_len: int, batch: int, repeats: int) -> tuple[float, float]:
    import torch

    from reap_omni.prune.model_io import find_moe_blocks
    from reap_omni.prune.observer import ReapObserver
    from reap_omni.prune.tiny import build_tiny_model

    torch.set_num_threads(os.cpu_count() or 1)
    model = build_tiny_model("thinker", **SHAPES[shape])
    ids = torch.randint(0, 256, (batch, seq_len))
    mask = torch.ones_like(ids)
    blocks = find_moe_blocks(model)

    def timed() -> float:
        t0 = time.perf_counter()
        model(input_ids=ids, attention_mask=mask, use_cache=False)
        return time.perf_counter() - t0

    def observed() -> float:
        with ReapObserver(blocks) as obs:
            obs.set_attention_mask(mask)
            return timed()

    plain_t, observed_t = [], []
    with torch.inference_mode():
        timed()
        observed()
        for i in range(repeats):  # interleaved, alternating which goes first
            for run, out in ((timed, plain_t), (observed, observed_t))[:: 1 if i % 2 == 0 else -1]:
                out.append(run())
    return statistics.median(plain_t), statistics.median(observed_t)


# VmHWM (not ru_maxrss, which survives exec from the model-holding parent) is this process's own peak.
_CHILD = """
import sys, json
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
sys.path.insert(0, {src!r})
from reap_omni.prune.surgery import prune_checkpoint
base = hwm()
kept = {{layer: list(range(0, 16, 2)) for layer in range(4)}}
r = prune_checkpoint({ckpt!r}, {out!r}, "thinker", kept)
print(json.dumps({{"base_kib": base, "peak_kib": hwm(),
                   "bytes_in": r.bytes_in, "bytes_out": r.bytes_out}}))
"""


def surgery_memory(workdir: Path) -> dict:
    from reap_omni.prune.tiny import save_tiny_checkpoint

    ckpt = save_tiny_checkpoint(workdir / "ckpt", kind="thinker", num_experts=16, top_k=2, hidden=512,
                                moe_intermediate=1024, layers=4, max_shard_size="120MB")
    largest = max(f.stat().st_size for f in ckpt.glob("*.safetensors"))
    src = str(Path(__file__).resolve().parents[1] / "src")
    code = _CHILD.format(src=src, ckpt=str(ckpt), out=str(workdir / "out"))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update(largest_shard=largest, shards=len(list(ckpt.glob("*.safetensors"))), seconds=time.perf_counter() - t0)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    for shape in SHAPES:
        plain, observed = forward_overhead(shape, args.seq_len, args.batch, args.repeats)
        print(f"forward  {shape:10s} plain {plain * 1e3:8.1f} ms  observed {observed * 1e3:8.1f} ms  "
              f"ratio {observed / plain:.2f}x (target <= 1.5x)")
    with tempfile.TemporaryDirectory() as tmp:
        r = surgery_memory(Path(tmp))
    peak, base = r["peak_kib"] * 1024, r["base_kib"] * 1024
    print(f"surgery  {r['shards']} shards, largest {r['largest_shard'] / 2**20:.1f} MiB, "
          f"{r['bytes_in'] / 2**20:.1f} -> {r['bytes_out'] / 2**20:.1f} MiB in {r['seconds']:.1f} s")
    print(f"surgery  peak RSS {peak / 2**20:.1f} MiB (interpreter baseline {base / 2**20:.1f} MiB): "
          f"peak/largest shard {peak / r['largest_shard']:.2f}x (target <= 1.5x); "
          f"growth/largest shard {(peak - base) / r['largest_shard']:.3f}x")


if __name__ == "__main__":
    main()
