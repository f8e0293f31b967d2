"""Regenerate the README's pictures by running its download -> report -> prune -> eval -> MS-SWIFT path.

Everything runs offline on the demo calibration set (``quickstart --demo``: synthetic tones and colour
patterns from a fixture Hub on 127.0.0.1) and a random tiny Qwen3-Omni (``reap_omni.model.tiny``), so
the figures show what the outputs look like, not how the real model prunes. About a minute on 2 CPU cores.

    python docs/make_images.py                 # writes docs/images/report_rows_hours.png, eval_nll_kl.png,
                                               # eval_retention.png
    python docs/make_images.py --work ./demo   # keep the intermediate folders there
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
#: (produced file, relative to the work folder) -> name under docs/images
PICTURES = {
    "calibration_data/report_rows_hours.png": "report_rows_hours.png",
    "eval/eval_nll_kl.png": "eval_nll_kl.png",
    "eval-curve/eval_retention.png": "eval_retention.png",
}
MAX_BYTES = 200_000
#: the tiny model's vision tower wants small frames (the real model's processor default is far larger)
TINY = ["--dtype", "float32", "--video-max-pixels", "4096"]


def reap(work: Path, *args: str) -> None:
    """One ``reap-omni`` command, as a user would type it, in ``work``; stop the script if it fails."""
    cmd = [sys.executable, "-m", "reap_omni", *args]
    print("+ reap-omni " + " ".join(args), flush=True)
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    subprocess.run(cmd, cwd=work, env=env, check=True)


def strata(folder: str, text: bool = False) -> list[str]:
    cal = f"./{folder}/calibration"
    return ["--audio-data", f"{cal}/audio.jsonl", "--video-data", f"{cal}/video.jsonl",
            "--mixed-data", f"{cal}/mixed.jsonl", *(["--text-data", f"{cal}/text.jsonl"] if text else [])]


def run_path(work: Path) -> None:
    """The README's one path, on the demo data and the tiny model."""
    # 1. download (offline demo: 12 rows per stratum, and 12 text rows for the S0 comparison) and 2. report
    reap(work, "quickstart", "--demo", "--output", "./calibration_data", "--text", "12", "--quiet")
    reap(work, "report", "./calibration_data", "--quiet")
    # the model: a random tiny Qwen3-Omni checkpoint (the real one would be Qwen3-Omni-30B-A3B-Instruct)
    from reap_omni.model.tiny import save_tiny_checkpoint

    save_tiny_checkpoint(work / "tiny-omni")
    # 3. prune (the scores name the 48 calibration rows; S0's statistics are stored beside S1-S3's)
    reap(work, "prune", "--model-path", "./tiny-omni", "--output-path", "./tiny-omni-pruned",
         *strata("calibration_data", text=True), "--retention-rate", "0.5", "--calibration-samples", "12", "--quiet",
         *TINY)
    # 4. held-out rows from another seed; the demo repos are small, so many are calibration rows: dropped
    reap(work, "quickstart", "--demo", "--output", "./heldout_data", "--samples", "24", "--seed", "1", "--text", "24",
         "--quiet")
    reap(work, "eval", "--model", "./tiny-omni", "--scores", "./tiny-omni-pruned", "--retention", "0.5",
         "--methods", "reap-omni,reap-s1,frequency,random", "--pruned", "./tiny-omni-pruned", *strata("heldout_data"),
         "--samples", "24", "--max-new-tokens", "8", "--skip-calibration-rows", "--output", "./eval", "--quiet", *TINY)
    # 4b. the retention curve: every selection (the text-only REAP baselines too) at five retentions, text rows too
    reap(work, "eval", "--model", "./tiny-omni", "--scores", "./tiny-omni-pruned", "--retention",
         "0.25,0.375,0.5,0.625,0.75", *strata("heldout_data", text=True), "--samples", "24", "--max-new-tokens", "0",
         "--skip-calibration-rows", "--output", "./eval-curve", "--quiet", *TINY)
    # 5. MS-SWIFT data (swift sft itself is not run here)
    cal = "./calibration_data/calibration"
    reap(work, "merge", f"{cal}/audio.jsonl", f"{cal}/video.jsonl", f"{cal}/mixed.jsonl", "-o", "./train.jsonl")
    reap(work, "msswift", "./train.jsonl", "./sft.jsonl", "--task", "sft")
    reap(work, "validate-msswift", "./sft.jsonl", "--task", "sft")


def copy_pictures(work: Path) -> list[Path]:
    IMAGES.mkdir(parents=True, exist_ok=True)
    out = []
    for src, name in PICTURES.items():
        size = (work / src).stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(f"{src} is {size} bytes, over the {MAX_BYTES} kept in the repository")
        shutil.copyfile(work / src, IMAGES / name)
        out.append(IMAGES / name)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, help="folder for the intermediate outputs (default: a temporary one)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        if any(args.work.iterdir()):
            raise SystemExit(f"--work {args.work} is not empty")
        run_path(args.work.resolve())
        written = copy_pictures(args.work.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="reap-omni-images-") as tmp:
            run_path(Path(tmp))
            written = copy_pictures(Path(tmp))
    for p in written:
        print(f"wrote {p.relative_to(ROOT)} ({p.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
