#!/usr/bin/env python3
"""Throughput and peak memory of ``msswift`` and ``validate-msswift`` next to two baselines.

``seed-*`` does what the seed's original script does per row (read a line, ``json.loads``, build the dict,
``json.dumps(ensure_ascii=False)``, write), without any check; ``stdlib-*`` does our checks, plainly.

Generates N unified rows (default 1,000,000) pointing at a handful of real generated media files (as a
calibration set does), then runs each measurement in its own subprocess so its peak RSS (VmHWM) is its
own. The stdlib baselines do the same work, plainly: the same row checks, the same output, the same
media-existence check (with a path cache), using ``json.loads``/``json.dumps`` line by line.

    python benchmarks/convert_throughput.py            # 1M rows
    python benchmarks/convert_throughput.py --rows 50000
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

MODALITIES = ("audio", "video", "mixed", "image", "text")
TAGS = ("<image>", "<video>", "<audio>")


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- data ------------------------------------------------------------------------------------------
def generate(folder: str, rows: int) -> str:
    """Write ``rows`` unified rows cycling over the modalities; media are 8 real files reused."""
    import msgspec

    from reap_omni.fixtures.media import make_audio, make_image, make_video

    media = os.path.join(folder, "media")
    os.makedirs(media, exist_ok=True)
    audios = [os.path.join(media, f"a{i}.wav") for i in range(3)]
    videos = [os.path.join(media, f"v{i}.mp4") for i in range(2)]
    images = [os.path.join(media, f"i{i}.png") for i in range(3)]
    for i, p in enumerate(audios):
        make_audio(p, seconds=0.2, fmt="wav", seed=i)
    for i, p in enumerate(videos):
        make_video(p, seconds=0.2, seed=i)
    for i, p in enumerate(images):
        make_image(p, seed=i)
    tasks = {"audio": "asr", "video": "caption", "mixed": "caption", "image": "caption", "text": None}
    path = os.path.join(folder, "unified.jsonl")
    enc = msgspec.json.Encoder()
    buf = bytearray()
    with open(path, "wb") as f:
        for i in range(rows):
            m = MODALITIES[i % 5]
            row = {"id": f"bench_{i:08d}", "modality": m, "text": f"sample transcript number {i} of the set",
                   "lang": "en", "duration": 4.2, "source": {"dataset": "bench", "split": "test"}}
            if m in ("audio", "mixed"):
                row["audio"] = audios[i % 3]
            if m in ("video", "mixed"):
                row["video"] = videos[i % 2]
            if m == "image":
                row["image"] = images[i % 3]
            if m == "text":
                row["meta"] = {"question": f"What is item {i}?"}
            if tasks[m]:
                row["task"] = tasks[m]
            enc.encode_into(row, buf, len(buf))
            buf += b"\n"
            if len(buf) > 1 << 20:
                f.write(buf)
                buf.clear()
        f.write(buf)
    return path


# -- stdlib baselines --------------------------------------------------------------------------------
def stdlib_convert(inp: str, out: str) -> int:
    """The same conversion as ``msswift --task sft``, written plainly with the stdlib ``json`` module."""
    from reap_omni.convert.prompts import default_instruction

    tmp = out + ".tmp"
    n = 0
    with open(inp, encoding="utf-8") as fin, open(tmp, "w", encoding="utf-8") as fout:
        for lineno, line in enumerate(fin, 1):
            line = line.strip()
            if not line:
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not row["id"].strip():
                raise ValueError(f"{inp}:{lineno}: bad id")
            m = row.get("modality")
            if m not in MODALITIES:
                raise ValueError(f"{inp}:{lineno}: bad modality")
            text = row.get("text", "")
            if not isinstance(text, str) or not text.strip() or any(t in text for t in TAGS):
                raise ValueError(f"{inp}:{lineno}: bad text")
            audio, video, image = row.get("audio"), row.get("video"), row.get("image")
            images = [image] if isinstance(image, str) else list(image or [])
            videos, audios = [], []
            if m == "audio":
                if not audio or video:
                    raise ValueError(f"{inp}:{lineno}: bad audio row")
                audios = [audio]
            elif m == "video":
                if not video or audio:
                    raise ValueError(f"{inp}:{lineno}: bad video row")
                videos = [video]
            elif m == "mixed":
                if not video or not audio:
                    raise ValueError(f"{inp}:{lineno}: bad mixed row")
                videos, audios = [video], [audio]
            elif m == "image" and not images:
                raise ValueError(f"{inp}:{lineno}: bad image row")
            meta = row.get("meta") or {}
            instruction = meta.get("question") or default_instruction(m, row.get("task"))
            prompt = "<image>" * len(images) + "<video>" * len(videos) + "<audio>" * len(audios) + instruction
            if (prompt.count("<image>"), prompt.count("<video>"), prompt.count("<audio>")) != \
                    (len(images), len(videos), len(audios)):
                raise ValueError(f"{inp}:{lineno}: tag mismatch")
            res = {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": text}]}
            if images:
                res["images"] = images
            if videos:
                res["videos"] = videos
            if audios:
                res["audios"] = audios
            fout.write(json.dumps(res, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, out)
    return n


def stdlib_validate(path: str) -> int:
    """The same core checks as ``validate-msswift``, written plainly with the stdlib ``json`` module."""
    roles = {"system", "user", "assistant", "tool_call", "tool_response", "tool"}
    query = {"user", "tool", "tool_response"}
    first_type: dict[str, tuple[type, int]] = {}
    exists: dict[str, bool] = {}
    bad = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            errors = []
            row = json.loads(line)
            for k, v in row.items():
                t = float if type(v) is int else type(v)
                if v is not None:
                    seen = first_type.setdefault(k, (t, lineno))
                    if seen[0] is not t:
                        errors.append(f"{k} type changed")
            msgs = row.get("messages")
            if not isinstance(msgs, list) or not msgs:
                errors.append("messages")
                msgs = []
            counts = [0, 0, 0]
            prev = None
            for i, m in enumerate(msgs):
                if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in roles:
                    errors.append(f"messages[{i}]")
                    continue
                if m["role"] == "system":
                    if i or any(t in m["content"] for t in TAGS):
                        errors.append("system")
                    continue
                q = m["role"] in query
                if (prev is None and not q) or (prev is not None and q == prev):
                    errors.append("order")
                prev = q
                for j, t in enumerate(TAGS):
                    counts[j] += m["content"].count(t)
                if i == len(msgs) - 1 and not q and any(t in m["content"] for t in TAGS):
                    errors.append("tag in answer")
            for j, col in enumerate(("images", "videos", "audios")):
                items = row.get(col, [])
                if not isinstance(items, list) or not all(isinstance(p, str) and p for p in items):
                    errors.append(col)
                    continue
                if len(items) != counts[j]:
                    errors.append(f"{col} count")
                for p in items:
                    if p not in exists:
                        exists[p] = os.path.exists(p)
                    if not exists[p]:
                        errors.append(f"missing {p}")
            bad += bool(errors)
    if bad:
        raise ValueError(f"{bad} invalid rows")
    return lineno


# -- the seed's original script, per row -----------------------------------------------------------------
def seed_convert(inp: str, out: str) -> int:
    """What the seed's original ``convert_utils.py msswift`` does per row, and nothing more: read a line,
    ``json.loads``, build the dict, ``json.dumps(ensure_ascii=False)``, write. No checks, not atomic."""
    tags = {"audio": "<audio>", "video": "<video>", "mixed": "<video><audio>", "image": "<image>", "text": ""}
    n = 0
    with open(inp, encoding="utf-8") as fin, open(out, "w", encoding="utf-8") as fout:
        for line in fin:
            row = json.loads(line)
            m = row.get("modality", "text")
            sample = {"messages": [{"role": "user", "content": tags.get(m, "") + "Please describe this."},
                                   {"role": "assistant", "content": row.get("text", "")}]}  # fmt: skip
            if row.get("image"):
                sample["images"] = [row["image"]]
            if row.get("video"):
                sample["videos"] = [row["video"]]
            if row.get("audio"):
                sample["audios"] = [row["audio"]]
            fout.write(json.dumps(sample, ensure_ascii=False) + "\n")
            n += 1
    return n


def seed_validate(path: str) -> int:
    """What the seed's ``validate_msswift_format`` reports, done per row the plain way: ``json.loads``;
    ``messages`` a non-empty list of ``{role, content}`` with a known role; media tag counts equal to the
    media lists; SFT or GRPO by the last role. No type-stability, order or media-existence checks."""
    roles = {"system", "user", "assistant", "tool_call", "tool_response", "tool"}
    total = valid = sft = grpo = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            total += 1
            row = json.loads(line)
            msgs = row.get("messages")
            if not isinstance(msgs, list) or not msgs:
                continue
            if not all(isinstance(m, dict) and m.get("role") in roles and isinstance(m.get("content"), str)
                       for m in msgs):  # fmt: skip
                continue
            text = "".join(m["content"] for m in msgs)
            if any(text.count(tag) != len(row.get(col) or []) for tag, col in
                   (("<image>", "images"), ("<video>", "videos"), ("<audio>", "audios"))):  # fmt: skip
                continue
            valid += 1
            if msgs[-1]["role"] == "assistant":
                sft += 1
            else:
                grpo += 1
    return total


# -- measurement ------------------------------------------------------------------------------------
def measure(name: str, inp: str, out: str) -> dict:
    from reap_omni.convert.msswift import convert_unified_to_msswift
    from reap_omni.convert.prompts import default_instruction  # noqa: F401 - imported before the clock starts
    from reap_omni.convert.validate_msswift import validate_msswift

    t0 = time.perf_counter()
    if name == "msswift":
        rows = convert_unified_to_msswift(inp, out, task_type="sft")["rows"]
    elif name == "stdlib-msswift":
        rows = stdlib_convert(inp, out)
    elif name == "validate-msswift":
        report = validate_msswift(inp, task="sft")
        if not report.ok:
            raise SystemExit("\n".join(report.errors[:5]))
        rows = report.total
    elif name == "stdlib-validate":
        rows = stdlib_validate(inp)
    elif name == "seed-msswift":
        rows = seed_convert(inp, out)
    elif name == "seed-validate":
        rows = seed_validate(inp)
    else:
        raise SystemExit(f"unknown measurement {name}")
    return {"name": name, "rows": rows, "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


def run_child(name: str, inp: str, out: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--measure", name, "--input", inp, "--output", out],
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows to generate (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest is reported")
    ap.add_argument("--workdir", default=None, help="folder for the generated files (default: a temp folder)")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(measure(a.measure, a.input, a.output)))
        return
    with tempfile.TemporaryDirectory(dir=a.workdir) as d:
        t0 = time.perf_counter()
        unified = generate(d, a.rows)
        size = os.path.getsize(unified) / 2**20
        print(f"generated {a.rows:,} unified rows ({size:.0f} MiB) in {time.perf_counter() - t0:.1f} s")
        sft = os.path.join(d, "sft.jsonl")
        plan = [("seed-msswift", unified, os.path.join(d, "sft_seed.jsonl")),
                ("stdlib-msswift", unified, os.path.join(d, "sft_stdlib.jsonl")), ("msswift", unified, sft),
                ("seed-validate", sft, ""), ("stdlib-validate", sft, ""), ("validate-msswift", sft, "")]
        best: dict[str, dict] = {}
        for _ in range(a.repeat):  # interleaved, best of N: a shared machine's noise hits both sides alike
            for name, inp, out in plan:
                r = run_child(name, inp, out)
                if name not in best or r["seconds"] < best[name]["seconds"]:
                    best[name] = r
        results = [best[name] for name, _, _ in plan]
        seed = {"msswift": best["seed-msswift"], "validate-msswift": best["seed-validate"]}
        stdlib = {"msswift": best["stdlib-msswift"], "validate-msswift": best["stdlib-validate"]}
        print(f"\nbest of {a.repeat} run(s) each, every run in its own process")
        print(f"{'command':<18}{'rows':>11}{'seconds':>10}{'rows/s':>12}{'peak RSS MiB':>14}{'vs seed':>9}"
              f"{'vs stdlib':>11}")  # fmt: skip
        for r in results:
            speed = r["rows"] / r["seconds"]
            vs = [f"{(ref[r['name']]['seconds'] / r['seconds']):.2f}x" if r["name"] in ref else "-"
                  for ref in (seed, stdlib)]  # fmt: skip
            print(f"{r['name']:<18}{r['rows']:>11,}{r['seconds']:>10.2f}{speed:>12,.0f}{r['peak_rss_mb']:>14.1f}"
                  f"{vs[0]:>9}{vs[1]:>11}")
        print("\nseed: what the seed's original script does per row (no checks); stdlib: the same checks as ours")
        print("target: >= 3x the seed's script, peak RSS < 150 MiB at 1M rows")


if __name__ == "__main__":
    main()
