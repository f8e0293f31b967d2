"""``reap-omni eval`` data parallel: 2 gloo ranks (3 rows each stratum: an uneven 2 + 1 split) give the
1-process figures; the held-out verdict is the same on every rank; one failing rank stops all of them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
from model_helpers import run_launched as _run
from model_helpers import torchrun as _torchrun

from reap_omni.fixtures.media import make_audio, make_video
from reap_omni.manifest.lock import LockFile, LockMedia, LockRow, write_lock
from reap_omni.prune.observer import StratumStats
from reap_omni.prune.scores import Scores, save_scores, select
from reap_omni.prune.surgery import prune_checkpoint

EXACT = ("rows", "tokens", "top1", "wer", "cer", "wer_rows", "cer_rows")


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dp_data(tmp_path_factory) -> dict[str, Path]:
    """3 ASR rows (English by WER, Chinese by CER), 3 video rows, 3 mixed rows; a video set whose row 1
    (rank 1's) cannot be decoded; scores and a checkpoint pruned to their REAP-OMNI selection."""
    root = tmp_path_factory.mktemp("dp-data")
    audio, video, mixed = [], [], []
    for i, (text, lang) in enumerate([("HELLO WORLD", "en"), ("你好世界", "zh"), ("a quiet tone", "en")]):
        make_audio(root / f"a{i}.wav", seconds=0.6 + 0.3 * i, fmt="wav", freq=250.0 + 150 * i, seed=50 + i)
        audio.append({"id": f"a{i}", "modality": "audio", "audio": str(root / f"a{i}.wav"), "text": text,
                      "task": "asr", "lang": lang})
        make_video(root / f"v{i}.mp4", seconds=1.0, with_audio=False, seed=60 + i)
        make_video(root / f"m{i}.mp4", seconds=1.0, with_audio=True, seed=70 + i)
        video.append({"id": f"v{i}", "modality": "video", "video": str(root / f"v{i}.mp4"), "text": f"stripes {i}"})
        mixed.append({"id": f"m{i}", "modality": "mixed", "video": str(root / f"m{i}.mp4"), "has_audio": True,
                      "text": "a tone with stripes"})
    bad = root / "bad.mp4"
    bad.write_bytes(os.urandom(4096))  # exists (so it hashes), but no decoder reads it
    broken = [dict(r) for r in video]
    broken[1]["video"] = str(bad)  # row 1 -> rank 1 of 2
    g = torch.Generator().manual_seed(5)
    sc = Scores("thinker", [0, 1, 2, 3], 8, 2,
                {s: StratumStats(torch.rand(4, 8, generator=g, dtype=torch.float64) * 5,
                                 torch.randint(1, 40, (4, 8), generator=g), torch.full((4,), 80))
                 for s in ("S1", "S2", "S3")}, {})
    sel = select(sc, 1.0, 1.0, 0.5)
    save_scores(root / "scores.json", sc, sel)
    return {"audio": _write(root / "audio.jsonl", audio), "video": _write(root / "video.jsonl", video),
            "mixed": _write(root / "mixed.jsonl", mixed), "video_bad": _write(root / "video_bad.jsonl", broken),
            "scores": root / "scores.json", "sel": sel, "root": root}



def _eval_argv(tiny_ckpt, d, out: Path, video="video", *extra) -> list[str]:
    return ["-m", "reap_omni", "eval", "--model", str(tiny_ckpt), "--audio-data", str(d["audio"]),
            "--video-data", str(d[video]), "--mixed-data", str(d["mixed"]), "--samples", "3",
            "--video-max-pixels", "4096", "--dtype", "float32", "--output", str(out), "--json", *extra]




def test_two_gloo_ranks_equal_one_process(tiny_ckpt, dp_data, tmp_path):
    sel = dp_data["sel"]
    pruned = tmp_path / "pruned"
    prune_checkpoint(tiny_ckpt, pruned, "thinker", {layer: sel.kept[i].tolist() for i, layer in enumerate(range(4))})
    extra = ("--scores", str(dp_data["scores"]), "--methods", "reap-omni,random", "--max-new-tokens", "3",
             "--pruned", str(pruned))
    one, two = tmp_path / "one", tmp_path / "two"
    p1 = _run([sys.executable, *_eval_argv(tiny_ckpt, dp_data, one, "video", *extra)], tmp_path)
    assert p1.returncode == 0, p1.stderr[-3000:]
    p2 = _run([*_torchrun(2), *_eval_argv(tiny_ckpt, dp_data, two, "video", *extra)], tmp_path)
    assert p2.returncode == 0, p2.stderr[-3000:]
    a, b = (json.loads((d / "eval.json").read_text()) for d in (one, two))
    assert list(a["strata"]) == list(b["strata"]) == ["S1", "S2", "S3"]
    for stratum, methods in a["strata"].items():
        assert list(methods) == list(b["strata"][stratum]) == ["original", "reap-omni", "random", "pruned"]
        for m, want in methods.items():
            got = b["strata"][stratum][m]
            assert want["rows"] == 3 and want["tokens"] > 0, (stratum, m)
            for key in EXACT:  # counts, and WER/CER from summed jiwer counts: exactly equal
                assert got.get(key) == want.get(key), (stratum, m, key)
            # float64 sums of float32 forwards run with other thread counts (torchrun's OMP_NUM_THREADS=1): equal
            # at float32 resolution compounded over the layers, not bit for bit
            for key in ("nll", "kl", "ppl"):
                assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), (stratum, m, key)
    s1 = a["strata"]["S1"]["original"]
    assert s1["wer_rows"] == 2 and s1["cer_rows"] == 1
    assert a["meta"]["world_size"] == 1 and b["meta"]["world_size"] == 2 and len(b["meta"]["devices"]) == 2
    # the per-row records: the same rows in the same order, whatever the world size
    ra, rb = ([json.loads(x) for x in (d / "eval_rows.jsonl").read_text().splitlines()] for d in (one, two))
    assert [(r["stratum"], r["id"], r["method"]) for r in ra] == [(r["stratum"], r["id"], r["method"]) for r in rb]
    for x, y in zip(ra, rb, strict=True):
        assert x.get("transcript") == y.get("transcript")
        if "nll" in x:
            assert y["nll"] == pytest.approx(x["nll"], rel=1e-5, abs=1e-6)
            assert y["kl"] == pytest.approx(x["kl"], rel=1e-5, abs=1e-6)
    # only rank 0 wrote, logged and printed
    assert sum(line.startswith("{") for line in p2.stdout.splitlines()) == 1
    assert p2.stderr.count("eval.md and plots") == 1
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())


def _lock(path: Path, row_id: str) -> Path:
    write_lock(path, LockFile(rows=[LockRow(id=row_id, dataset="demo", modality="video", key=f"demo:{row_id}",
                                            media={"video": LockMedia(path="/elsewhere/x.mp4", sha256=None)})]))
    return path


def test_the_held_out_verdict_is_the_same_on_every_rank(tiny_ckpt, dp_data, tmp_path):
    """v1 is in the calibration set: it is rank 1's row, yet both ranks refuse (checked before sharding)."""
    lock = _lock(tmp_path / "manifest.lock.json", "v1")
    out = tmp_path / "out"
    p = _run([*_torchrun(2), *_eval_argv(tiny_ckpt, dp_data, out, "video", "--methods", "random",
                                         "--calibration-lock", str(lock))], tmp_path)
    assert p.returncode != 0
    # one error per rank (the two ranks' lines may interleave on the shared pipe: count, don't split)
    assert p.stderr.count("reap-omni: error:") == 2, p.stderr[-3000:]
    assert p.stderr.count("v1 (id") == 2 and "calibration rows" in p.stderr
    assert not (out / "eval.json").exists()


def test_a_failing_rank_makes_every_rank_exit_non_zero(tiny_ckpt, dp_data, tmp_path):
    out = tmp_path / "out"
    p = _run([*_torchrun(2), *_eval_argv(tiny_ckpt, dp_data, out, "video_bad", "--methods", "random",
                                         "--max-new-tokens", "0")], tmp_path)
    assert p.returncode != 0
    assert p.stderr.count("reap-omni: error:") == 2, p.stderr[-3000:]  # one error per rank, no traceback of ours
    assert "cannot decode video" in p.stderr  # rank 1's own error
    assert "rank 1 failed during stratum S2" in p.stderr  # rank 0 stops because of it
    assert p.stderr.count("Traceback (most recent call last)") <= 1  # torchrun's own, at most: none from a rank
    assert "exitcode  : 0" not in p.stderr  # no rank reported success
    assert not (out / "eval.json").exists()


def test_summed_jiwer_counts_give_jiwer_over_all_rows():
    """What the all-reduce adds up: per-shard (S + D + I, H + S + D) give the rate of the whole corpus."""
    jiwer = pytest.importorskip("jiwer")
    from reap_omni.evaluate.metrics import error_counts, error_rate, rate

    refs = ["HELLO WORLD, this is a test.", "It's the second   sentence!", "one two three four", "a b"]
    hyps = ["hello world this is test", "its the sentence", "one two tree four five", ""]
    shards = [error_counts(refs[r::3], hyps[r::3], cer=False) for r in range(3)]
    merged = rate(sum(e for e, _ in shards), sum(n for _, n in shards))
    normalized = ["hello world this is a test", "its the second sentence", "one two three four", "a b"]
    assert merged == error_rate(refs, hyps, cer=False) == jiwer.wer(normalized, hyps)
    zh_refs, zh_hyps = ["今天天气很好。", "我们 去 公园吧！"], ["今天天汽很好", "我们去公园"]
    parts = [error_counts([r], [h], cer=True) for r, h in zip(zh_refs, zh_hyps, strict=True)]
    want = jiwer.cer(["今天天气很好", "我们去公园吧"], zh_hyps)
    assert rate(sum(e for e, _ in parts), sum(n for _, n in parts)) == want
