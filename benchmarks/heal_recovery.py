#!/usr/bin/env python3
"""How much of the pruning gap ``reap-omni heal`` recovers, measured by ``reap-omni eval`` on held-out rows.

The README's path on the offline demo data and the random tiny Qwen3-Omni (thinker + talker + code2wav):
``quickstart --demo`` (12 calibration rows per stratum), ``prune --retention-rate 0.5``, ``heal`` with its
defaults (ms-swift GKD, off-policy, routers + kept experts) ``--run`` on the calibration rows, then ``eval``
on held-out rows of another seed (calibration rows dropped) with ``--pruned pruned=P --pruned healed=H``.
Prints KL(original ‖ pruned) and KL(original ‖ healed) per stratum, the recovered share per stratum and
pooled over all answer tokens, the optimiser steps and the seconds ``heal --run`` took.

Needs ms-swift beside reap-omni (``.ci/msswift-env`` builds such an environment); a few minutes on 2 CPU
cores. Asserts nothing.

    python benchmarks/heal_recovery.py [--work DIR] [--heal-arg=--learning-rate=1e-4 ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--video-max-pixels", "4096"]
LABELS = {"S1": "S1 audio", "S2": "S2 video", "S3": "S3 audio+video"}


def reap(work: Path, *args: str) -> float:
    """One ``reap-omni`` command in ``work``; its wall seconds."""
    print("+ reap-omni " + " ".join(args), flush=True)
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    bin_dir = str(Path(sys.executable).parent)  # the trainer's CLI lives beside this interpreter
    env = dict(os.environ, PYTHONPATH=path, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
               PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "reap_omni", *args], cwd=work, env=env, check=True)
    return time.perf_counter() - t0


def strata(folder: str) -> list[str]:
    cal = f"./{folder}/calibration"
    return ["--audio-data", f"{cal}/audio.jsonl", "--video-data", f"{cal}/video.jsonl",
            "--mixed-data", f"{cal}/mixed.jsonl"]


def run(work: Path, heal_args: list[str]) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    from reap_omni.model.tiny import save_tiny_checkpoint

    reap(work, "quickstart", "--demo", "--output", "./calibration_data", "--quiet")
    save_tiny_checkpoint(work / "tiny-omni")
    reap(work, "prune", "--model-path", "./tiny-omni", "--output-path", "./tiny-omni-pruned",
         *strata("calibration_data"), "--retention-rate", "0.5", "--calibration-samples", "12", "--quiet",
         "--dtype", "float32", *TINY)
    seconds = reap(work, "heal", "--original", "./tiny-omni", "--pruned", "./tiny-omni-pruned",
                   *strata("calibration_data"), "--output", "./heal", "--run", *TINY, *heal_args)
    reap(work, "quickstart", "--demo", "--output", "./heldout_data", "--samples", "24", "--seed", "1", "--quiet")
    reap(work, "eval", "--model", "./tiny-omni", "--methods", "", "--pruned", "pruned=./tiny-omni-pruned",
         "--pruned", "healed=./heal/output/last-checkpoint", *strata("heldout_data"), "--samples", "24",
         "--skip-calibration-rows", "--calibration-lock", "./calibration_data/calibration/manifest.lock.json",
         "--max-new-tokens", "0", "--output", "./eval", "--quiet", "--dtype", "float32", *TINY)
    doc = json.loads((work / "eval" / "eval.json").read_text())
    heal = json.loads((work / "heal" / "heal.json").read_text())
    state = json.loads((work / "heal" / "output" / "last-checkpoint" / "trainer_state.json").read_text())
    return {"eval": doc, "heal": heal, "steps": state.get("global_step"), "seconds": seconds}


def report(res: dict) -> None:
    doc, rec = res["eval"], res["eval"]["recovery"]
    print("\n| stratum | rows | KL(original ‖ pruned) | KL(original ‖ healed) | recovered |")
    print("|---|---|---|---|---|")
    for s, methods in doc["strata"].items():
        share = rec["strata"][s]["healed"]["kl"]
        print(f"| {LABELS.get(s, s)} | {methods['pruned']['rows']} | {methods['pruned']['kl']:.4f} | "
              f"{methods['healed']['kl']:.4f} | {100 * share:.0f}% |")
    pools, share = rec["pooled"], rec["pooled_share"]["healed"]
    print(f"| pooled ({pools['pruned']['tokens']} answer tokens) | | {pools['pruned']['kl']:.4f} | "
          f"{pools['healed']['kl']:.4f} | {100 * share['kl']:.0f}% |")
    heal = res["heal"]
    t = heal["trainable"]
    print(f"\nheal: {res['steps']} steps, {res['seconds']:.0f} s for `heal --run` (trainer start included), learning "
          f"rate {heal['learning_rate']:g}; trained {t['parameters']:,} parameters = "
          f"{100 * t['parameters'] / t['thinker']:.1f}% of the thinker, {100 * t['parameters'] / t['total']:.1f}% "
          f"of the pruned checkpoint. NLL pooled recovered {100 * share['nll']:.0f}%, top-1 {100 * share['top1']:.0f}%")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, help="folder for the intermediate outputs (default: a temporary one)")
    ap.add_argument("--heal-arg", action="append", default=[], help="extra heal argument (default: heal's defaults)")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("swift") is None:
        print("heal_recovery: ms-swift is not importable in this environment (see .ci/msswift-env)", file=sys.stderr)
        return 2
    heal_args = [a for arg in args.heal_arg for a in arg.split("=", 1)] if args.heal_arg else []
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        if any(args.work.iterdir()):
            raise SystemExit(f"--work {args.work} is not empty")
        report(run(args.work.resolve(), heal_args))
    else:
        with tempfile.TemporaryDirectory(prefix="reap-omni-heal-") as tmp:
            report(run(Path(tmp), heal_args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
