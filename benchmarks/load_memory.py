"""Peak host memory while loading the scored model: the old full host copy vs accelerate's dispatch.

Issue 11's target: with ``--device-map`` the weights go straight to their devices, so the host never holds
more than about one shard beyond what is placed on it. A CPU-only machine cannot place weights on a GPU, so
this measures the same mechanism with disk offload: a random Qwen3-Omni thinker (~0.8 GB in float32, <= 100 MB
shards) is loaded

* ``old``: ``from_pretrained`` without a device map, then ``.to("cpu")`` (what ``load_for_scoring`` did),
* ``device``: ``load_for_scoring(info, Placement(device="cpu"))`` (everything placed on the host, as a baseline),
* ``offload``: ``plan_placement(info, Placement(device_map="sequential", max_memory={"cpu": <one shard>}))`` and
  ``load_for_scoring`` with the plan's map and an offload folder: what does not fit goes to disk,

each in its own process (``--experts`` and ``--layers`` show what the peak scales with). Printed: peak
anonymous RSS (sampled every 5 ms: the bytes the process itself holds) and VmHWM (also counts the file pages
of memory-mapped shards, which the kernel can drop), minus the same figures right before the load, plus the
load time.

    python benchmarks/load_memory.py [--hidden 512 --experts 64 --layers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0]) * 1024
    return out


class AnonPeak:
    """Peak RssAnon, sampled on a thread (the kernel keeps a high-water mark only for the total)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _status()["RssAnon"])
            time.sleep(0.005)

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status()["RssAnon"])


def _child(mode: str, ckpt: str, shard_bytes: int, offload: str) -> None:
    import torch  # noqa: F401  (imports before the baseline figures)
    import transformers  # noqa: F401

    from reap_omni.model.info import ModelInfo
    from reap_omni.model.load import load_for_scoring
    from reap_omni.model.memory_plan import plan_placement
    from reap_omni.model.placement import Placement

    info = ModelInfo.read(ckpt)
    plan = None
    if mode == "offload":
        plan = plan_placement(info, Placement(dtype="float32", device_map="sequential",
                                              max_memory={"cpu": shard_bytes}, offload_folder=offload))
    before = _status()
    t0 = time.perf_counter()
    with AnonPeak() as anon:
        if mode == "old":
            from transformers import Qwen3OmniMoeThinkerForConditionalGeneration

            model = Qwen3OmniMoeThinkerForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32)
            model.to("cpu")
        elif mode == "device":
            load_for_scoring(info, Placement(device="cpu", dtype="float32"))
        else:
            load_for_scoring(info, Placement(dtype="float32", device_map=plan.device_map, offload_folder=offload))
    seconds = time.perf_counter() - t0
    after = _status()
    placed = {d: b for d, (_n, b) in plan.per_device.items()} if plan else {"cpu": None}
    print(json.dumps({"mode": mode, "seconds": seconds, "anon_peak": anon.peak - before["RssAnon"],
                      "hwm": after["VmHWM"] - before["VmRSS"], "placed": placed}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--experts", type=int, default=64)
    ap.add_argument("--moe-intermediate", type=int, default=512)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--shard-mb", type=int, default=100)
    ap.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        mode, ckpt, shard, offload = args._child
        _child(mode, ckpt, int(shard), offload)
        return 0

    from reap_omni.model.tiny import save_tiny_checkpoint

    with tempfile.TemporaryDirectory(prefix="reap-omni-load-") as tmp:
        ckpt = Path(tmp) / "model"
        save_tiny_checkpoint(ckpt, kind="thinker", hidden=args.hidden, num_experts=args.experts,
                             moe_intermediate=args.moe_intermediate, layers=args.layers, heads=8, kv_heads=4,
                             max_shard_size=f"{args.shard_mb}MB")
        shards = sorted(ckpt.glob("*.safetensors"))
        total = sum(f.stat().st_size for f in shards)
        largest = max(f.stat().st_size for f in shards)
        print(f"checkpoint: {total / 2**20:.0f} MiB in {len(shards)} shards (largest {largest / 2**20:.0f} MiB), "
              f"cpu budget for 'offload': one shard")
        print(f"{'mode':<9}{'seconds':>9}{'peak anon MiB':>15}{'VmHWM MiB':>11}  placement")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        for mode in ("old", "device", "offload"):
            out = subprocess.run([sys.executable, __file__, "--_child", mode, str(ckpt), str(largest),
                                  str(Path(tmp) / f"offload-{mode}")], env=env, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{mode}: failed\n{out.stderr[-2000:]}")
                return 1
            r = json.loads(out.stdout.strip().splitlines()[-1])
            placed = ", ".join(f"{d} {b / 2**20:.0f} MiB" for d, b in r["placed"].items() if b is not None) or "cpu"
            print(f"{r['mode']:<9}{r['seconds']:>9.2f}{r['anon_peak'] / 2**20:>15.0f}{r['hwm'] / 2**20:>11.0f}  "
                  f"{placed}")
        print("target: 'offload' peak anon about one shard + one MoE layer's experts (transformers 5.x fuses them "
              "while loading), whatever the number of layers: the host holds only what is placed on it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
