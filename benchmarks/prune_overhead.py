#!/usr/bin/env python3
"""Cost of REAP-OMNI pruning on a small random Qwen3-Omni-MoE model, on CPU.

1. Observation overhead: forward time with the REAP observer attached / plain forward time (target <= 1.5x).
   The observer reuses the model's own expert computation (it swaps in an instrumented copy of the experts
   kernel), so it adds no expert matmuls: only the norms of the routed outputs and two scatter-adds per layer.
   Plain and observed forwards alternate, so that load from other processes hits both alike.
2. Surgery memory: peak RSS of the checkpoint rewrite (in a fresh process) / largest shard size (target <= 1.5x).
3. Calibration throughput: samples/s and tokens/s of a whole ``reap-omni prune --dry-run`` calibration (media
   decoding, processor, observed forwards) on a small random Qwen3-Omni checkpoint, 1 process, 1 thread.
4. Data parallel: the same samples with ``torchrun --nproc-per-node 2`` (gloo, 1 thread per rank) vs 1 process
   with 1 thread: speed-up of the calibration (target >= 1.6x on 2 cores); the scores must agree. A control
   runs 2 independent processes on half the samples each at once: on a machine other jobs share, it shows
   how much 2-process speed-up the machine itself offered during the run.

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

    from reap_omni.model.moe import find_moe_blocks
    from reap_omni.model.tiny import build_tiny_model
    from reap_omni.prune.observer import ReapObserver

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
    from reap_omni.model.tiny import save_tiny_checkpoint

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


def _calibration_data(workdir: Path, n: int) -> dict[str, Path]:
    from reap_omni.fixtures.media import make_audio, make_video

    media = workdir / "media"
    media.mkdir()
    rows: dict[str, list[dict]] = {"audio": [], "video": [], "mixed": []}
    for i in range(n):
        sec = 2.0 + (i % 3)
        make_audio(media / f"a{i}.wav", seconds=sec, fmt="wav", freq=200.0 + 37 * i, seed=i)
        make_video(media / f"v{i}.mp4", seconds=sec, with_audio=False, seed=i)
        make_video(media / f"m{i}.mp4", seconds=sec, with_audio=True, seed=100 + i)
        rows["audio"].append({"id": f"a{i}", "modality": "audio", "audio": str(media / f"a{i}.wav"),
                              "text": f"a tone, number {i}, rising and falling"})
        rows["video"].append({"id": f"v{i}", "modality": "video", "video": str(media / f"v{i}.mp4"),
                              "text": "a moving pattern of colours"})
        rows["mixed"].append({"id": f"m{i}", "modality": "mixed", "video": str(media / f"m{i}.mp4"),
                              "has_audio": True, "text": "a moving pattern with a tone"})
    out = {}
    for k, v in rows.items():
        out[k] = workdir / f"{k}.jsonl"
        out[k].write_text("".join(json.dumps(r) + "\n" for r in v))
    return out


def _calibrate_cmd(launcher: list[str], ckpt: Path, data: dict[str, Path], scores: Path, n: int) -> dict:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=src, TRANSFORMERS_VERBOSITY="error")
    cmd = [*launcher, "-m", "reap_omni", "prune", "--model-path", str(ckpt), "--audio-data", str(data["audio"]),
           "--video-data", str(data["video"]), "--mixed-data", str(data["mixed"]), "--dry-run", "--dtype", "float32",
           "--calibration-samples", str(n), "--video-max-pixels", "16384", "--scores-out", str(scores), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def calibration_throughput(workdir: Path, n: int, repeats: int) -> tuple[list[dict], list[dict], float]:
    """1 process vs 2 gloo ranks over the same ``n`` samples per stratum, ``repeats`` times each, alternating
    which goes first; returns both lists of summaries and the largest relative difference of their sums."""
    import torch

    from reap_omni.model.tiny import save_tiny_checkpoint
    from reap_omni.prune.scores import load_scores

    ckpt = save_tiny_checkpoint(workdir / "ckpt", kind="thinker", num_experts=64, top_k=8, hidden=256,
                                moe_intermediate=128, layers=4, heads=8, kv_heads=2, max_shard_size="50MB")
    data = _calibration_data(workdir, n)
    single = [sys.executable]
    ranks = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    ones, twos = [], []
    _CONTROL.clear()
    for i in range(repeats):  # interleaved, rotating the order: load from other jobs hits all three alike
        order = [(single, ones, "one"), (ranks, twos, "two"), (None, _CONTROL, "control")]
        for launcher, out, name in order[i % 3:] + order[:i % 3]:
            if launcher is None:  # what this machine gives 2 processes now: 2 independent half runs at once
                out.append(_concurrent_halves(ckpt, data, workdir / f"{name}{i}", n))
            else:
                out.append(_calibrate_cmd(launcher, ckpt, data, workdir / f"{name}{i}" / "scores.json", n))
    a, b = load_scores(workdir / "one0" / "scores.json"), load_scores(workdir / "two0" / "scores.json")
    rel = max(float(((a.strata[s].sums - b.strata[s].sums).abs() / a.strata[s].sums.abs().clamp(min=1e-300)).max())
              for s in a.strata)
    assert all(torch.equal(a.strata[s].counts, b.strata[s].counts) for s in a.strata)
    return ones, twos, rel


_CONTROL: list[float] = []


def _concurrent_halves(ckpt: Path, data: dict[str, Path], workdir: Path, n: int) -> float:
    """Two independent 1-thread processes, each calibrating n/2 samples, started together: the slower one's
    calibration seconds (no torch.distributed: the parallel capacity the data-parallel run competes for)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        futs = [pool.submit(_calibrate_cmd, [sys.executable], ckpt, data, workdir / f"h{j}" / "scores.json", n // 2)
                for j in range(2)]
        return max(_totals(f.result())[2] for f in futs)


def _totals(summary: dict) -> tuple[int, int, float]:
    cal = summary["calibration"].values()
    return sum(c["samples"] for c in cal), sum(c["tokens"] for c in cal), sum(c["seconds"] for c in cal)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calibration-samples", type=int, default=24, help="per stratum, for 3. and 4.")
    ap.add_argument("--calibration-repeats", type=int, default=3, help="runs of each launcher, for 4.")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        ones, twos, rel = calibration_throughput(Path(tmp), args.calibration_samples, args.calibration_repeats)
    load_after = os.getloadavg()[0]
    one = min(ones, key=lambda r: _totals(r)[2])
    for name, c in one["calibration"].items():
        print(f"calib    {name} 1 process: {c['samples']} samples, {c['tokens']} tokens in {c['seconds']:.2f} s: "
              f"{c['samples'] / c['seconds']:.2f} samples/s, {c['tokens'] / c['seconds']:.0f} tokens/s")
    t1 = sorted(_totals(r)[2] for r in ones)
    t2 = sorted(_totals(r)[2] for r in twos)
    n1, k1, _ = _totals(ones[0])
    med1, med2 = statistics.median(t1), statistics.median(t2)
    print(f"calib    all strata, 1 process x 1 thread: {n1 / med1:.2f} samples/s, {k1 / med1:.0f} tokens/s "
          f"(median {med1:.2f} s of {len(t1)})")
    print(f"calib    all strata, 2 gloo ranks x 1 thread: {n1 / med2:.2f} samples/s, {k1 / med2:.0f} tokens/s "
          f"(median {med2:.2f} s of {len(t2)})")
    print(f"calib    data-parallel speed-up: median {med1 / med2:.2f}x, best pair {t1[0] / t2[0]:.2f}x "
          f"(target >= 1.6x on 2 cores); sums differ by <= {rel:.1e} relative, counts equal; "
          f"load average {load_before:.2f} -> {load_after:.2f} (other processes share the cores)")
    ctrl = statistics.median(_CONTROL)
    print(f"calib    control: 2 independent processes on half the samples each, at once: {med1 / ctrl:.2f}x "
          f"(median {ctrl:.2f} s): the machine's own 2-process capacity during this run; data parallel reaches "
          f"{ctrl / med2:.0%} of it")
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
