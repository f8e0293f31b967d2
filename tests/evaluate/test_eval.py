"""``reap-omni eval`` end to end on the tiny Qwen3-Omni: outputs, masking = pruned checkpoint, the edge cases of
the metrics, an independent recomputation, and the held-out discipline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from model_helpers import mask_routing

from reap_omni.cli import run
from reap_omni.fixtures.media import make_audio, make_video
from reap_omni.manifest.lock import LockFile, LockMedia, LockRow, file_sha256, write_lock
from reap_omni.model.inputs import InputOptions, build_inputs, load_samples
from reap_omni.model.moe import find_moe_blocks
from reap_omni.prune.observer import StratumStats
from reap_omni.prune.scores import Scores, save_scores, select
from reap_omni.prune.surgery import prune_checkpoint

METHODS = ("original", "reap-omni", "reap-s1", "frequency", "random")
#: what --video-max-pixels 4096 gives the processor
CLI_OPTS = InputOptions(video_fps=2.0, video_size={"shortest_edge": 4096, "longest_edge": 4096})
FILES = {"S1": "audio", "S2": "video", "S3": "mixed"}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory) -> dict[str, Path]:
    """Held-out rows (not the calibration fixture's media): English and Chinese ASR, video, mixed."""
    root = tmp_path_factory.mktemp("eval-data")
    audio, video, mixed = [], [], []
    texts = [("HELLO WORLD", "en"), ("a quiet tone", "en"), ("你好世界", "zh")]
    for i, (text, lang) in enumerate(texts):
        make_audio(root / f"ea{i}.wav", seconds=0.8 + 0.3 * i, fmt="wav", freq=250.0 + 150 * i, seed=20 + i)
        audio.append({"id": f"ea{i}", "modality": "audio", "audio": str(root / f"ea{i}.wav"), "text": text,
                      "task": "asr", "lang": lang, "source": {"dataset": "demo", "split": "train"}})
    for i in range(2):
        make_video(root / f"ev{i}.mp4", seconds=1.0 + i, with_audio=False, seed=30 + i)
        make_video(root / f"em{i}.mp4", seconds=1.0, with_audio=True, seed=40 + i)
        video.append({"id": f"ev{i}", "modality": "video", "video": str(root / f"ev{i}.mp4"), "text": "stripes move",
                      "task": "caption", "source": {"dataset": "msrvtt", "split": "test" if i == 0 else "train"}})
        mixed.append({"id": f"em{i}", "modality": "mixed", "video": str(root / f"em{i}.mp4"), "has_audio": True,
                      "text": "a tone with stripes", "task": "caption"})
    return {"audio": _write(root / "audio.jsonl", audio), "video": _write(root / "video.jsonl", video),
            "mixed": _write(root / "mixed.jsonl", mixed), "root": root}


def _scores(meta: dict | None = None) -> Scores:
    g = torch.Generator().manual_seed(3)
    strata = {s: StratumStats(torch.rand(4, 8, generator=g, dtype=torch.float64) * 5,
                              torch.randint(1, 40, (4, 8), generator=g), torch.full((4,), 80))
              for s in ("S1", "S2", "S3")}
    return Scores("thinker", [0, 1, 2, 3], 8, 2, strata, meta or {})


@pytest.fixture(scope="module")
def scores_file(tmp_path_factory) -> Path:
    sc = _scores()
    path = tmp_path_factory.mktemp("eval-scores") / "scores.json"
    save_scores(path, sc, select(sc, 1.0, 1.0, 0.5))
    return path


def _args(tiny_ckpt, eval_data, out, *extra) -> list[str]:
    return ["eval", "--model", str(tiny_ckpt), "--audio-data", str(eval_data["audio"]),
            "--video-data", str(eval_data["video"]), "--mixed-data", str(eval_data["mixed"]),
            "--samples", "3", "--video-max-pixels", "4096", "--output", str(out), "--quiet", *extra]


@pytest.fixture(scope="module")
def full_run(tiny_ckpt, eval_data, scores_file, tmp_path_factory):
    """All four selections at retention 0.5, plus the checkpoint pruned to REAP-OMNI's selection."""
    work = tmp_path_factory.mktemp("eval-run")
    sc = _scores()
    kept = select(sc, 1.0, 1.0, 0.5).kept
    pruned = work / "pruned"
    prune_checkpoint(tiny_ckpt, pruned, "thinker", {layer: kept[i].tolist() for i, layer in enumerate(sc.layers)})
    out = work / "out"
    code = run(_args(tiny_ckpt, eval_data, out, "--scores", str(scores_file), "--retention", "0.5",
                     "--pruned", str(pruned), "--max-new-tokens", "4"))
    assert code == 0
    return json.loads((out / "eval.json").read_text()), out, kept


def test_outputs_per_stratum_and_method(full_run):
    doc, out, _ = full_run
    assert list(doc["strata"]) == ["S1", "S2", "S3"]
    for stratum, methods in doc["strata"].items():
        assert list(methods) == [*METHODS, "pruned"]
        for name, r in methods.items():
            assert {"nll", "ppl", "kl", "top1", "rows", "tokens", "seconds"} <= set(r), (stratum, name)
            assert r["rows"] == (3 if stratum == "S1" else 2) and r["tokens"] > 0
            assert r["ppl"] == pytest.approx(torch.tensor(r["nll"]).exp().item(), rel=1e-6)
        assert methods["original"]["kl"] == 0.0 and methods["original"]["top1"] == 1.0
    s1 = doc["strata"]["S1"]
    for r in s1.values():  # two English ASR rows by WER, the Chinese one by CER
        assert r["wer_rows"] == 2 and r["cer_rows"] == 1 and r["cer"] >= 0.0 and "gen_seconds" in r
    assert "wer" not in doc["strata"]["S2"]["original"]  # captions: no transcripts
    meta = doc["meta"]
    assert meta["kept_per_layer"] == 4 and meta["num_experts"] == 8 and meta["layers"] == [0, 1, 2, 3]
    assert set(meta["kept"]) == {"reap-omni", "reap-s1", "frequency", "random"}  # pruned has no scores in it
    assert all(len(v) == 4 for v in meta["overlap"].values()) and "reap-omni|random" in meta["overlap"]
    assert meta["held_out"]["eval_split_rows"] == {"S1": [], "S2": ["ev0"], "S3": []}
    md = (out / "eval.md").read_text()
    for title in ("## S1 audio", "## S2 video", "## S3 audio+video", "| reap-omni |", "| pruned |", "WER", "CER"):
        assert title in md
    for png in ("eval_nll_kl.png", "eval_overlap.png"):
        data = (out / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 2000
    rows = [json.loads(line) for line in (out / "eval_rows.jsonl").read_text().splitlines()]
    assert {r["method"] for r in rows} == {*METHODS, "pruned"}
    assert any(r.get("metric") == "cer" and r["id"] == "ea2" for r in rows)


def test_masking_equals_evaluating_the_pruned_checkpoint(full_run):
    doc, _, _ = full_run
    for stratum, methods in doc["strata"].items():
        masked, pruned = methods["reap-omni"], methods["pruned"]
        assert abs(masked["nll"] - pruned["nll"]) <= 1e-4, stratum
        assert abs(masked["kl"] - pruned["kl"]) <= 1e-4 and masked["top1"] == pruned["top1"]
        if "wer" in masked:
            assert masked["wer"] == pruned["wer"] and masked["cer"] == pruned["cer"]


def test_retention_one_gives_zero_kl_and_the_original_nll(tiny_ckpt, eval_data, scores_file, tmp_path):
    code = run(_args(tiny_ckpt, eval_data, tmp_path, "--scores", str(scores_file), "--retention", "1.0",
                     "--methods", "reap-omni,random", "--max-new-tokens", "3"))
    assert code == 0
    doc = json.loads((tmp_path / "eval.json").read_text())
    for methods in doc["strata"].values():
        for m in ("reap-omni", "random"):
            assert methods[m]["kl"] == 0.0 and methods[m]["top1"] == 1.0
            assert methods[m]["nll"] == methods["original"]["nll"]
            assert methods[m].get("wer") == methods["original"].get("wer")


def test_random_selection_at_low_retention_diverges(tiny_ckpt, eval_data, tmp_path):
    code = run(_args(tiny_ckpt, eval_data, tmp_path, "--retention", "0.25", "--methods", "random",
                     "--max-new-tokens", "0"))
    assert code == 0
    doc = json.loads((tmp_path / "eval.json").read_text())
    for methods in doc["strata"].values():
        assert methods["random"]["kl"] > 1e-3 and methods["random"]["nll"] != methods["original"]["nll"]
        assert "wer" not in methods["random"]  # --max-new-tokens 0: no transcripts


def _independent(thinker, processor, manifest, stratum, kept_by_layer, k: int):
    """Per-token NLL / bucketed KL / top-1 from full float64 logits, masking with the test helper."""
    tok = processor.tokenizer
    suffix = len(tok("<|im_end|>\n", add_special_tokens=False)["input_ids"])
    nll, kl, top1 = [], [], []
    for s in load_samples(manifest, stratum, 3):
        inputs = build_inputs(processor, [s], stratum, CLI_OPTS)
        n = len(tok(s.text, add_special_tokens=False)["input_ids"])
        end = inputs["input_ids"].shape[1] - suffix
        pos = torch.arange(end - n, end)
        with torch.no_grad():
            p_logits = thinker(**inputs, use_cache=False).logits[0, pos - 1].double()
            handles = [mask_routing(b, kept_by_layer[b.layer]) for b in find_moe_blocks(thinker)]
            try:
                q_logits = thinker(**inputs, use_cache=False).logits[0, pos - 1].double()
            finally:
                for h in handles:
                    h.remove()
        targets = inputs["input_ids"][0, pos]
        nll.append(F.cross_entropy(q_logits, targets, reduction="none"))
        p, q = p_logits.softmax(-1), q_logits.softmax(-1)
        idx = p.topk(k, dim=-1).indices
        pt, qt = p.gather(-1, idx), q.gather(-1, idx)
        ptail, qtail = 1 - pt.sum(-1), 1 - qt.sum(-1)
        kl.append((pt * (pt / qt).log()).sum(-1) + ptail * (ptail / qtail).log())
        top1.append((q_logits.argmax(-1) == p_logits.argmax(-1)).double())
    return float(torch.cat(nll).mean()), float(torch.cat(kl).mean()), float(torch.cat(top1).mean())


@pytest.mark.parametrize("stratum", ["S1", "S2", "S3"])
def test_metrics_equal_an_independent_computation(full_run, tiny_loaded, eval_data, stratum):
    doc, _, kept = full_run
    model, processor = tiny_loaded
    kept_by_layer = {layer: kept[i].tolist() for i, layer in enumerate([0, 1, 2, 3])}
    nll, kl, top1 = _independent(model.thinker, processor, eval_data[FILES[stratum]], stratum, kept_by_layer, 64)
    got = doc["strata"][stratum]["reap-omni"]
    assert got["nll"] == pytest.approx(nll, rel=1e-5, abs=1e-6)
    assert got["kl"] == pytest.approx(kl, rel=1e-4, abs=1e-6)
    assert got["top1"] == pytest.approx(top1)
    orig_nll, _, _ = _independent(model.thinker, processor, eval_data[FILES[stratum]], stratum,
                                  {layer: list(range(8)) for layer in range(4)}, 64)
    assert doc["strata"][stratum]["original"]["nll"] == pytest.approx(orig_nll, rel=1e-5, abs=1e-6)


def _lock(path: Path, rows: list[tuple[str, str | None]]) -> Path:
    write_lock(path, LockFile(rows=[
        LockRow(id=i, dataset="demo", modality="audio", key=f"demo:{i}",
                media={"audio": LockMedia(path="/elsewhere/x.wav", sha256=sha)}) for i, sha in rows]))
    return path


def test_overlap_with_the_calibration_lock_is_refused(tiny_ckpt, eval_data, tmp_path, capsys):
    by_id = _lock(tmp_path / "by-id.lock.json", [("ev1", None), ("unrelated", None)])
    sha = file_sha256(eval_data["root"] / "ea1.wav")
    by_sha = tmp_path / "cal" / "calibration"
    by_sha.mkdir(parents=True)
    _lock(by_sha / "manifest.lock.json", [("renamed_copy", sha)])
    for lock, why in ((by_id, "ev1 (id"), (tmp_path / "cal", "ea1 (media sha256")):
        out = tmp_path / f"out-{why[:3]}"
        code = run(_args(tiny_ckpt, eval_data, out, "--methods", "random", "--calibration-lock", str(lock)))
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, err
        assert "calibration rows" in err and why in err
        assert not (out / "eval.json").exists()
    out = tmp_path / "skip"
    code = run(_args(tiny_ckpt, eval_data, out, "--methods", "random", "--max-new-tokens", "0",
                     "--calibration-lock", str(by_id), "--skip-calibration-rows"))
    assert code == 0
    doc = json.loads((out / "eval.json").read_text())
    assert doc["strata"]["S2"]["original"]["rows"] == 1
    assert doc["meta"]["held_out"]["calibration_rows_skipped"] == ["ev1"]


def test_rows_named_by_the_scores_provenance_are_refused(tiny_ckpt, eval_data, tmp_path, capsys):
    sc = _scores({"calibration_rows": {"S3": [{"id": "em0", "sha256": {"video": "0" * 64}}]}})
    path = tmp_path / "scores.json"
    save_scores(path, sc, select(sc, 1.0, 1.0, 0.5))
    code = run(_args(tiny_ckpt, eval_data, tmp_path / "out", "--scores", str(path)))
    err = capsys.readouterr().err.strip()
    assert code == 2 and "em0 (id" in err and "the scores' provenance" in err


def test_bad_options_are_one_line_errors(tiny_ckpt, eval_data, scores_file, tmp_path, capsys):
    cases = [
        (["--methods", "reap-omni,best"], "unknown --methods entry 'best'"),
        (["--methods", "reap-omni"], "--scores is required for reap-omni"),
        (["--methods", "random", "--retention", "0.1"], "fewer than the 2 experts"),
        (["--scores", str(tmp_path / "missing.json")], "scores file not found"),
    ]
    for extra, msg in cases:
        assert run(_args(tiny_ckpt, eval_data, tmp_path / "o", *extra)) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err


def test_device_map_with_disk_offload_gives_the_same_figures(full_run, tiny_ckpt, eval_data, scores_file, tmp_path):
    """accelerate's dispatch (weights offloaded to disk, on meta between forwards): masking still applies."""
    doc, _, _ = full_run
    out = tmp_path / "out"
    code = run(_args(tiny_ckpt, eval_data, out, "--scores", str(scores_file), "--retention", "0.5",
                     "--max-new-tokens", "4", "--device-map", "sequential", "--max-memory", "cpu=400KB",
                     "--offload-folder", str(tmp_path / "offload")))
    assert code == 0
    got = json.loads((out / "eval.json").read_text())
    for stratum, methods in got["strata"].items():
        for m, r in methods.items():
            want = doc["strata"][stratum][m]
            assert r["nll"] == pytest.approx(want["nll"], abs=1e-5) and r["kl"] == pytest.approx(want["kl"], abs=1e-5)
            assert r["top1"] == want["top1"] and r.get("wer") == want.get("wer")
