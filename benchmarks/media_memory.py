#!/usr/bin/env python3
"""Peak memory of building one calibration row's inputs, for long and high-resolution media (issue 16, item 5).

Each row goes through ``inputs.fit_sample`` (what ``prune`` and ``eval`` run per row) with the tiny model's
real ``Qwen3OmniMoeProcessor`` (``model.tiny``) given the real model's vision geometry (patch 16, merge 2,
temporal patch 2: the tiny model merges 1, four times the tokens per frame) and its default frame size
(786,432 pixels), and the CLI's defaults (``--max-seq-len 4096``, ``--video-fps 2``, ``--max-media-seconds
300``), each in its own process. Media are generated with PyAV into a temp dir:

* audio (S1): a 3-hour silent 16 kHz FLAC (~2 MB); baselines: the same, 10 s long, and 5 minutes long (the
  whole window: at 4096 tokens about 300 s of audio fit, so this is what any longer row decodes);
* video (S2, and S3 with its sound): static 720p and 1080p H.264 with a silent AAC track, 10 minutes
  (tens of KB); baseline: the same, 10 s long.

Printed per row: the child's peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), the RSS right before the
row (imports and processor loaded), the window decoded, the sequence length and the time. Before the window
(issue 16), the 3-hour FLAC took 8.4 GB and the 10-minute 720p video 7.5 GB.

    python benchmarks/media_memory.py [--minutes 10 --hours 3 --fps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def static_video(path: Path, seconds: float, width: int, height: int, fps: int) -> None:
    """One grey frame repeated (cheap to encode, tiny on disk) plus a silent 16 kHz AAC track."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        ast = out.add_stream("aac", rate=16000, layout="mono")
        rgb = np.full((height, width, 3), 96, np.uint8)
        rgb[height // 4: height // 2, width // 4: width // 2] = (200, 40, 40)
        base = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        n = int(round(seconds * fps))
        for i in range(n):
            frame = base.reformat()
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        zeros = np.zeros((1, 1024), np.float32)
        for start in range(0, int(seconds * 16000), 1024):
            frame = av.AudioFrame.from_ndarray(zeros, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 16000, start, Fraction(1, 16000)
            for packet in ast.encode(frame):
                out.mux(packet)
        for packet in ast.encode(None):
            out.mux(packet)


def _child(stratum: str, path: str) -> None:
    import resource

    import torch  # noqa: F401  (imports before the baseline figure)
    import transformers  # noqa: F401

    from reap_omni.model import inputs as inputs_mod
    from reap_omni.model.inputs import InputOptions, Sample, fit_sample
    from reap_omni.model.tiny import build_tiny_processor

    transformers.logging.set_verbosity_error()
    processor = build_tiny_processor()
    processor.video_processor.merge_size = 2  # Qwen3-Omni's vision geometry (the tiny model merges 1)
    opts = InputOptions()  # the CLI's defaults; video_size None: the processor's own frame size
    p = Path(path)
    sample = Sample("row", "a short answer", p if stratum == "S1" else None, None if stratum == "S1" else p, path)
    windows: list[float] = []
    real = inputs_mod.build_inputs

    def build(*a, **k):
        windows.append(a[4])
        return real(*a, **k)

    inputs_mod.build_inputs = build
    before = _rss_kib()
    t0 = time.perf_counter()
    out = fit_sample(processor, sample, stratum, opts)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_kib": peak, "before_kib": before, "window": windows,
                      "tokens": int(out["input_ids"].shape[1]), "seconds": seconds}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=3.0, help="length of the long silent FLAC")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the long videos")
    ap.add_argument("--fps", type=int, default=10, help="frame rate of the generated videos")
    ap.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        _child(*args._child)
        return 0

    from reap_omni.fixtures.media import make_silence

    with tempfile.TemporaryDirectory(prefix="reap-omni-media-") as tmp:
        root = Path(tmp)
        rows: list[tuple[str, str, Path]] = []
        t0 = time.perf_counter()
        for label, seconds in (("10 s", 10.0), ("5 min", 300.0), (f"{args.hours:g} h", args.hours * 3600)):
            path = root / f"silence-{seconds:g}.flac"
            make_silence(path, seconds=seconds)
            rows.append((f"audio {label} FLAC", "S1", path))
        for width, height in ((1280, 720), (1920, 1080)):
            for label, seconds in (("10 s", 10.0), (f"{args.minutes:g} min", args.minutes * 60)):
                path = root / f"video-{height}p-{seconds:g}.mp4"
                static_video(path, seconds, width, height, args.fps)
                for stratum in ("S2", "S3"):
                    rows.append((f"{height}p {label} video", stratum, path))
        print(f"media generated in {time.perf_counter() - t0:.0f} s: " + ", ".join(
            f"{p.name} {p.stat().st_size / 1024:.0f} KiB" for p in sorted({r[2] for r in rows})))
        print(f"{'row':<26}{'stratum':<8}{'peak RSS MiB':>13}{'before MiB':>11}{'growth MiB':>11}"
              f"{'window s':>10}{'tokens':>8}{'seconds':>9}")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        for label, stratum, path in rows:
            out = subprocess.run([sys.executable, __file__, "--_child", stratum, str(path)], env=env,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{label} {stratum}: failed\n{out.stderr[-2000:]}")
                return 1
            r = json.loads(out.stdout.strip().splitlines()[-1])
            window = ", ".join(f"{w:.2f}" for w in r["window"])
            print(f"{label:<26}{stratum:<8}{r['peak_kib'] / 1024:>13.0f}{r['before_kib'] / 1024:>11.0f}"
                  f"{(r['peak_kib'] - r['before_kib']) / 1024:>11.0f}{window:>10}{r['tokens']:>8}{r['seconds']:>9.2f}")
        print("target: a long row's peak equals that of a short row with the same window (3 h FLAC = 5 min FLAC; "
              "10 min video = 10 s video, 1080p = 720p); before the window the 3-hour FLAC took 8.4 GB and the "
              "10-minute 720p video 7.5 GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
