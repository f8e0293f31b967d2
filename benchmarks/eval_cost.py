#!/usr/bin/env python3
"""Cost of ``reap-omni eval`` on a small random Qwen3-Omni-MoE checkpoint.

1. Time: teacher-forced NLL/KL evaluation time per sample of each method, relative to one plain forward of
   the same sample (``thinker(**inputs)``, full logits) (target <= 1.3x per method). The original's pass
   also records the encoder outputs and the top-k reference; every selection reuses the encoder outputs
   and computes logits at the answer tokens only. Plain passes and eval runs alternate, so that load from
   other processes hits both alike; medians over ``--repeats``.
2. Memory: peak of a fresh process that loads the model and runs plain forwards, vs. one running
   ``eval`` with the four selections, vs. one also evaluating a pruned checkpoint (``--pruned``: loaded after
   the original is freed, so the peak must not hold two models). CPU: VmHWM (RSS high-water mark); CUDA:
   ``torch.cuda.max_memory_allocated``.

3. Data parallel (``--ranks N``, instead of 1 and 2): wall time of ``reap-omni eval`` in 1 process vs.
   ``torchrun --nproc-per-node N`` (gloo; CPU threads per rank = ``--threads``), medians over ``--repeats``, and
   how far apart the two runs' figures are (NLL/KL relative difference; counts, top-1 must be equal).

4. Retention sweep (``--retention 0.25,0.5,0.75``, instead of 1 and 2): wall time of one ``reap-omni eval
   --retention 0.25,0.5,0.75`` against one run per retention (each its own process, as a user would run them:
   each loads the model and runs the original's reference pass again; target: the sweep <= 0.6x of them), the
   peak RSS of each process (the sweep holds one model, as a one-value run), and whether the sweep's figures equal
   the one-value runs' (rows, tokens, NLL, KL, top-1: the same passes, so exactly).

Shape ``qwen3-omni`` scales the 30B-A3B thinker's proportions down (hidden 256, 128 experts top-8, expert
width 96); the audio tower and vision encoder of the tiny model are small, so the encoder share of a
forward is lower than in the real model, where replaying them saves more.

Prints the figures; asserts nothing. Run: python benchmarks/eval_cost.py [--device cuda:0] [--ranks 2]
[--retention 0.25,0.5,0.75]
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

SRC = str(Path(__file__).resolve().parents[1] / "src")
sys.path.insert(0, SRC)

SHAPE = dict(num_experts=128, top_k=8, hidden=256, moe_intermediate=96, layers=8, heads=8, kv_heads=1, head_dim=64)
METHODS = ("reap-omni", "reap-s1", "frequency", "random")
VIDEO_PIXELS = 128 * 128
FILES = {"S1": "audio", "S2": "video", "S3": "mixed"}


def _data(workdir: Path, n: int, seconds: float) -> dict[str, Path]:
    from reap_omni.fixtures.media import make_audio, make_video

    media = workdir / "media"
    media.mkdir()
    rows: dict[str, list[dict]] = {"audio": [], "video": [], "mixed": []}
    answer = "the quick brown fox jumps over the lazy dog while a tone rises and falls again"
    for i in range(n):
        make_audio(media / f"a{i}.wav", seconds=seconds, fmt="wav", freq=200.0 + 37 * i, seed=i)
        make_video(media / f"v{i}.mp4", seconds=seconds, with_audio=False, seed=i)
        make_video(media / f"m{i}.mp4", seconds=seconds, with_audio=True, seed=100 + i)
        rows["audio"].append({"id": f"a{i}", "modality": "audio", "audio": str(media / f"a{i}.wav"), "text": answer})
        rows["video"].append({"id": f"v{i}", "modality": "video", "video": str(media / f"v{i}.mp4"), "text": answer})
        rows["mixed"].append({"id": f"m{i}", "modality": "mixed", "video": str(media / f"m{i}.mp4"),
                              "has_audio": True, "text": answer})
    out = {}
    for k, v in rows.items():
        out[k] = workdir / f"{k}.jsonl"
        out[k].write_text("".join(json.dumps(r) + "\n" for r in v))
    return out


def _scores(path: Path) -> Path:
    import torch

    from reap_omni.prune.observer import StratumStats
    from reap_omni.prune.scores import Scores, save_scores, select

    g = torch.Generator().manual_seed(0)
    layers, e = SHAPE["layers"], SHAPE["num_experts"]
    strata = {s: StratumStats(torch.rand(layers, e, generator=g, dtype=torch.float64),
                              torch.randint(1, 100, (layers, e), generator=g), torch.full((layers,), 1000))
              for s in ("S1", "S2", "S3")}
    sc = Scores("thinker", list(range(layers)), e, SHAPE["top_k"], strata, {})
    save_scores(path, sc, select(sc, 1.0, 1.0, 0.5))
    return path


def _options(ckpt: Path, data: dict[str, Path], scores: Path, out: Path, n: int, device: str, dtype: str, **kw):
    from reap_omni.evaluate.options import EvalOptions
    from reap_omni.model.inputs import InputOptions
    from reap_omni.model.placement import Placement

    return EvalOptions(model_path=str(ckpt), output=str(out), scores=str(scores), retention_rate=0.5,
                       methods=list(METHODS), audio_data=str(data["audio"]), video_data=str(data["video"]),
                       mixed_data=str(data["mixed"]), samples=n, max_new_tokens=0,
                       placement=Placement(device=device, dtype=dtype),
                       inputs=InputOptions(video_size={"shortest_edge": VIDEO_PIXELS, "longest_edge": VIDEO_PIXELS}),
                       **kw)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_ratios(workdir: Path, n: int, repeats: int, device: str, dtype: str) -> dict:
    import torch
    from transformers import AutoProcessor

    from reap_omni.evaluate.pipeline import run_eval
    from reap_omni.model.info import ModelInfo
    from reap_omni.model.inputs import iter_batches, load_samples
    from reap_omni.model.load import load_for_scoring
    from reap_omni.model.tiny import save_tiny_checkpoint

    ckpt = save_tiny_checkpoint(workdir / "ckpt", kind="thinker", max_shard_size="50MB", **SHAPE)
    data = _data(workdir, n, 4.0)
    scores = _scores(workdir / "scores.json")
    opts = _options(ckpt, data, scores, workdir / "out", n, device, dtype)
    processor = AutoProcessor.from_pretrained(ckpt)
    root, _model = load_for_scoring(ModelInfo.read(ckpt), opts.placement)
    mdtype = next(root.parameters()).dtype
    batches = {s: [{k: (v.to(device).to(mdtype) if k in ("input_features", "pixel_values_videos") else v.to(device))
                    if isinstance(v, torch.Tensor) else v for k, v in inp.items()}
                   for inp, _ in iter_batches(processor, load_samples(data[f], s, n), s, 1, opts.inputs)]
               for s, f in FILES.items()}

    def plain(stratum: str) -> float:
        total = 0.0
        for b in batches[stratum]:
            _sync(device)
            t0 = time.perf_counter()
            root(**b, use_cache=False)
            _sync(device)
            total += time.perf_counter() - t0
        return total / len(batches[stratum])

    plain_t = {s: [] for s in FILES}
    eval_t = {s: {m: [] for m in ("original", *METHODS)} for s in FILES}
    tokens = {}
    with torch.inference_mode():
        for s in FILES:
            plain(s)  # warm-up
    run_eval(opts, log=lambda _m: None)  # warm-up
    for _ in range(repeats):
        with torch.inference_mode():
            for s in FILES:
                plain_t[s].append(plain(s))
        doc = run_eval(opts, log=lambda _m: None)
        for s, methods in doc["strata"].items():
            for m, r in methods.items():
                eval_t[s][m].append(r["seconds"] / r["rows"])
                tokens[s] = r["tokens"] / r["rows"]
    seq = {s: float(sum(int(b["input_ids"].shape[1]) for b in batches[s]) / len(batches[s])) for s in FILES}
    return {"plain": {s: statistics.median(v) for s, v in plain_t.items()},
            "eval": {s: {m: statistics.median(v) for m, v in ms.items()} for s, ms in eval_t.items()},
            "tokens": tokens, "seq": seq, "ckpt": str(ckpt), "data": {k: str(v) for k, v in data.items()},
            "scores": str(scores),
            "weights_bytes": sum(f.stat().st_size for f in Path(ckpt).glob("*.safetensors"))}


_CHILD = """
import json, sys
sys.path.insert(0, {src!r})
sys.path.insert(0, {bench!r})
import torch
torch.set_num_threads({threads})
from pathlib import Path
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
import eval_cost as ec
mode, device, dtype = {mode!r}, {device!r}, {dtype!r}
ckpt, data, scores = Path({ckpt!r}), {{k: Path(v) for k, v in {data!r}.items()}}, Path({scores!r})
base = hwm()
if mode == "plain":
    from transformers import AutoProcessor
    from reap_omni.model.inputs import iter_batches, load_samples
    from reap_omni.model.info import ModelInfo
    from reap_omni.model.load import load_for_scoring
    opts = ec._options(ckpt, data, scores, Path({out!r}), {n}, device, dtype)
    processor = AutoProcessor.from_pretrained(ckpt)
    root, _ = load_for_scoring(ModelInfo.read(ckpt), opts.placement)
    mdtype = next(root.parameters()).dtype
    with torch.inference_mode():
        for s, f in ec.FILES.items():
            for inp, _ in iter_batches(processor, load_samples(data[f], s, {n}), s, 1, opts.inputs):
                b = {{k: (v.to(device).to(mdtype) if k in ("input_features", "pixel_values_videos") else v.to(device))
                     if isinstance(v, torch.Tensor) else v for k, v in inp.items()}}
                root(**b, use_cache=False)
else:
    from reap_omni.evaluate.pipeline import run_eval
    extra = {{"pruned": {pruned!r}}} if mode == "pruned" else {{}}
    run_eval(ec._options(ckpt, data, scores, Path({out!r}), {n}, device, dtype, **extra), log=lambda _m: None)
cuda = torch.cuda.max_memory_allocated() if device.startswith("cuda") else None
print(json.dumps({{"base": base, "peak": hwm(), "cuda_peak": cuda}}))
"""


def memory(res: dict, workdir: Path, n: int, device: str, dtype: str, threads: int) -> dict:
    from reap_omni.prune.scores import load_scores
    from reap_omni.prune.surgery import prune_checkpoint

    sc = load_scores(res["scores"])
    from reap_omni.prune.scores import select

    kept = select(sc, 1.0, 1.0, 0.5).kept
    pruned = workdir / "pruned"
    if not pruned.exists():
        prune_checkpoint(res["ckpt"], pruned, "thinker", {i: kept[i].tolist() for i in sc.layers})
    out = {}
    env = dict(os.environ, TRANSFORMERS_VERBOSITY="error")
    for mode in ("plain", "eval", "pruned"):
        code = _CHILD.format(src=SRC, bench=str(Path(__file__).resolve().parent), mode=mode, device=device,
                             dtype=dtype, ckpt=res["ckpt"], data=res["data"], scores=res["scores"],
                             out=str(workdir / f"mem-{mode}"), n=n, pruned=str(pruned), threads=threads)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _cli_args(res: dict, n: int, device: str, dtype: str, out: Path) -> list[str]:
    d = res["data"]
    return ["-m", "reap_omni", "eval", "--model", res["ckpt"], "--scores", res["scores"], "--retention", "0.5",
            "--methods", ",".join(METHODS), "--audio-data", d["audio"], "--video-data", d["video"],
            "--mixed-data", d["mixed"], "--samples", str(n), "--max-new-tokens", "0",
            "--video-max-pixels", str(VIDEO_PIXELS), "--device", device, "--dtype", dtype, "--output", str(out),
            "--quiet"]


def data_parallel(workdir: Path, n: int, ranks: int, repeats: int, device: str, dtype: str, threads: int) -> dict:
    """1 process vs. torchrun with ``ranks`` ranks on the same rows: wall seconds and the figures' agreement."""
    from reap_omni.model.tiny import save_tiny_checkpoint

    ckpt = save_tiny_checkpoint(workdir / "ckpt", kind="thinker", max_shard_size="50MB", **SHAPE)
    res = {"ckpt": str(ckpt), "data": {k: str(v) for k, v in _data(workdir, n, 4.0).items()},
           "scores": str(_scores(workdir / "scores.json"))}
    env = dict(os.environ, TRANSFORMERS_VERBOSITY="error", OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=SRC)
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    launch = {1: [sys.executable],
              ranks: [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks)]}
    wall: dict[int, list[float]] = {1: [], ranks: []}
    inner: dict[int, list[float]] = {1: [], ranks: []}
    docs = {}
    for i in range(repeats):
        for w in (1, ranks):  # alternate, so that load from other processes hits both alike
            out = workdir / f"dp-{w}-{i}"
            dev = "cuda" if w > 1 and device.startswith("cuda") else device  # rank r on cuda:r
            t0 = time.perf_counter()
            proc = subprocess.run([*launch[w], *_cli_args(res, n, dev, dtype, out)], capture_output=True, text=True,
                                  env=env, check=False)
            wall[w].append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-3000:])
            docs[w] = json.loads((out / "eval.json").read_text())
            inner[w].append(docs[w]["meta"]["seconds"])
    worst, same = 0.0, True
    for s, methods in docs[1]["strata"].items():
        for m, a in methods.items():
            b = docs[ranks]["strata"][s][m]
            same &= all(a[k] == b[k] for k in ("rows", "tokens", "top1"))
            worst = max(worst, *(abs(a[k] - b[k]) / max(abs(a[k]), 1e-300) for k in ("nll", "kl") if a[k]))
    return {"wall": {w: statistics.median(v) for w, v in wall.items()},
            "inner": {w: statistics.median(v) for w, v in inner.items()}, "worst_rel": worst, "counts_equal": same}


_SWEEP_CHILD = """
import json, sys, time
sys.path.insert(0, {src!r})
import torch
torch.set_num_threads({threads})
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
from reap_omni.cli import run
t0 = time.perf_counter()
code = run({argv!r})
cuda = torch.cuda.max_memory_allocated() if {device!r}.startswith("cuda") else None
print(json.dumps({{"code": code, "seconds": time.perf_counter() - t0, "peak": hwm(), "cuda_peak": cuda}}))
"""


def retention_sweep(workdir: Path, n: int, rates: list[str], repeats: int, device: str, dtype: str,
                    threads: int) -> dict:
    """One ``eval --retention r1,r2,...`` vs one process per retention: wall seconds, peak memory, agreement."""
    from reap_omni.model.tiny import save_tiny_checkpoint

    ckpt = save_tiny_checkpoint(workdir / "ckpt", kind="thinker", max_shard_size="50MB", **SHAPE)
    res = {"ckpt": str(ckpt), "data": {k: str(v) for k, v in _data(workdir, n, 4.0).items()},
           "scores": str(_scores(workdir / "scores.json"))}
    env = dict(os.environ, TRANSFORMERS_VERBOSITY="error")

    def child(retention: str, out: Path) -> dict:
        argv = _cli_args(res, n, device, dtype, out)[2:]  # drop "-m reap_omni"
        argv[argv.index("--retention") + 1] = retention
        code = _SWEEP_CHILD.format(src=SRC, threads=threads, argv=argv, device=device)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        return {**got, "wall": wall, "doc": json.loads((out / "eval.json").read_text())}

    sweep_t, single_t, sweep_peak, single_peak = [], [], [], []
    docs: dict[str, dict] = {}
    for i in range(repeats):  # alternate, so that load from other processes hits both alike
        s = child(",".join(rates), workdir / f"sweep-{i}")
        sweep_t.append(s["wall"])
        sweep_peak.append(s["cuda_peak"] if s["cuda_peak"] is not None else s["peak"])
        docs["sweep"] = s["doc"]
        total = 0.0
        peaks = []
        for r in rates:
            one = child(r, workdir / f"single-{r}-{i}")
            total += one["wall"]
            peaks.append(one["cuda_peak"] if one["cuda_peak"] is not None else one["peak"])
            docs[r] = one["doc"]
        single_t.append(total)
        single_peak.append(max(peaks))
    same = True
    for r in rates:
        for stratum, methods in docs[r]["strata"].items():
            for m, want in methods.items():
                got = docs["sweep"]["retention"]["strata"][stratum][m][r] if m != "original" else \
                    docs["sweep"]["strata"][stratum][m]
                same &= all(got[k] == want[k] for k in ("rows", "tokens", "nll", "kl", "top1"))
    return {"sweep": statistics.median(sweep_t), "singles": statistics.median(single_t),
            "sweep_peak": max(sweep_peak), "single_peak": max(single_peak), "same": same,
            "cuda": device.startswith("cuda"), "size": docs["sweep"]["retention"]["size"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=4, help="rows per stratum")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, help="default float32 on cpu, bfloat16 on cuda")
    ap.add_argument("--ranks", type=int, default=0,
                    help="N > 1: only compare 1 process with torchrun --nproc-per-node N (wall time, agreement)")
    ap.add_argument("--retention", default=None, metavar="R1,R2,...",
                    help="only compare one sweep over these retentions with one eval run per retention")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1: stable figures on a shared machine; more threads than free cores "
                    "makes every forward several times slower)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    load_before = os.getloadavg()[0]
    if args.retention:
        rates = [r.strip() for r in args.retention.split(",") if r.strip()]
        with tempfile.TemporaryDirectory() as tmp:
            rs = retention_sweep(Path(tmp), args.samples, rates, args.repeats, args.device, dtype, args.threads)
        load_after = os.getloadavg()[0]
        what = "CUDA peak allocated" if rs["cuda"] else "peak RSS"
        print(f"retention sweep on {args.device} ({dtype}, {args.threads} thread(s)), {args.samples} rows per "
              f"stratum, {len(METHODS)} selections x {len(rates)} retentions, medians of {args.repeats}; "
              f"load average {load_before:.2f} -> {load_after:.2f}")
        print(f"wall     one sweep --retention {args.retention}: {rs['sweep']:.2f} s; {len(rates)} separate runs: "
              f"{rs['singles']:.2f} s; sweep / separate = {rs['sweep'] / rs['singles']:.2f}x (target <= 0.6x); "
              "process start, imports and model load included")
        print(f"memory   {what}: sweep {rs['sweep_peak'] / 2**20:.1f} MiB, largest separate run "
              f"{rs['single_peak'] / 2**20:.1f} MiB ({rs['sweep_peak'] / rs['single_peak']:.2f}x)")
        print("figures  sweep vs separate runs (rows, tokens, NLL, KL, top-1): "
              + ("identical" if rs["same"] else "DIFFER"))
        print("size     " + ", ".join(f"retention {r}: {s['parameters'] / 1e6:.2f} M parameters"
                                      for r, s in rs["size"].items()))
        return
    if args.ranks > 1:
        with tempfile.TemporaryDirectory() as tmp:
            dp = data_parallel(Path(tmp), args.samples, args.ranks, args.repeats, args.device, dtype, args.threads)
        load_after = os.getloadavg()[0]
        w1, wn = dp["wall"][1], dp["wall"][args.ranks]
        i1, i_n = dp["inner"][1], dp["inner"][args.ranks]
        print(f"data parallel on {args.device} ({dtype}, {args.threads} thread(s) per rank), {args.samples} rows per "
              f"stratum, 5 models, medians of {args.repeats}; load average {load_before:.2f} -> {load_after:.2f}")
        print(f"wall     1 process {w1:.2f} s, {args.ranks} ranks {wn:.2f} s ({w1 / wn:.2f}x), launch included; "
              f"eval.json seconds (model loads included) {i1:.2f} s vs {i_n:.2f} s ({i1 / i_n:.2f}x)")
        print(f"figures  NLL/KL largest relative difference {dp['worst_rel']:.2e}; rows, tokens, top-1 "
              + ("equal" if dp["counts_equal"] else "DIFFER"))
        return
    with tempfile.TemporaryDirectory() as tmp:
        res = time_ratios(Path(tmp), args.samples, args.repeats, args.device, dtype)
        mem = memory(res, Path(tmp), args.samples, args.device, dtype, args.threads)
    load_after = os.getloadavg()[0]
    print(f"eval cost on {args.device} ({dtype}, {args.threads} CPU thread(s)), {args.samples} rows per stratum, "
          f"medians of {args.repeats}; "
          f"weights {res['weights_bytes'] / 2**20:.1f} MiB; load average {load_before:.2f} -> {load_after:.2f}")
    worst = 0.0
    for s in FILES:
        p = res["plain"][s]
        cells = []
        for m, t in res["eval"][s].items():
            ratio = t / p
            if m != "original":
                worst = max(worst, ratio)
            cells.append(f"{m} {ratio:.2f}x")
        total = sum(res["eval"][s].values()) / p
        print(f"time     {s}: {res['seq'][s]:.0f} tokens/sample ({res['tokens'][s]:.0f} answer), plain forward "
              f"{p * 1e3:.1f} ms; per method / plain: " + ", ".join(cells)
              + f"; all 5 together {total:.2f}x (5 plain forwards: 5.00x)")
    print(f"time     worst selection / plain forward: {worst:.2f}x (target <= 1.3x per method)")
    for mode, label in (("plain", "load + plain forwards"), ("eval", "eval, 4 selections"),
                        ("pruned", "eval, 4 selections + --pruned")):
        r = mem[mode]
        line = (f"memory   {label:<30s} peak RSS {r['peak'] / 2**20:7.1f} MiB "
                f"(interpreter + imports {r['base'] / 2**20:.1f})")
        if r["cuda_peak"] is not None:
            line += f", CUDA peak allocated {r['cuda_peak'] / 2**20:.1f} MiB"
        print(line)


if __name__ == "__main__":
    main()
