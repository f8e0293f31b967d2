"""The retention sweep, the text stratum S0 and the text-only baselines, on the tiny Qwen3-Omni (CPU, float32).

A sweep equals one-value runs at each of its retentions; retention 1 costs nothing; ``reap-text`` keeps what REAP
computed independently on the same text rows keeps; the size axis is the parameter count of what ``prune`` writes;
text rows flow through ``prune`` and ``eval`` with their answer tokens found."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from model_helpers import reference_saliency, write_real_config

from reap_omni.cli import build_parser, run
from reap_omni.fixtures.media import make_audio
from reap_omni.model.info import ModelInfo
from reap_omni.model.inputs import InputOptions, iter_batches, load_samples
from reap_omni.model.moe import find_moe_blocks
from reap_omni.prune.scores import load_scores, num_kept, select_experts

RATES = (0.25, 0.5, 1.0)
#: answers with lines and non-ASCII characters: the tiny tokenizer has one token per UTF-8 byte
ANSWERS = ("Four.\n2 + 2 = 4", "def f(x):\n    return x * 2", "Tides: the Moon pulls the sea — twice a day.")
FIGURES = ("rows", "tokens", "nll", "kl", "top1")


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Calibration text rows, held-out text rows (one as a chat in meta.messages) and held-out audio rows."""
    root = tmp_path_factory.mktemp("retention-data")
    cal = [{"id": f"c{i}", "modality": "text", "text": f"Answer {i}: {a}", "task": "chat",
            "meta": {"question": f"Question {i}?"}} for i, a in enumerate(ANSWERS)]
    held = [{"id": "h0", "modality": "text", "text": ANSWERS[0], "meta": {"question": "What is 2 + 2?"}},
            {"id": "h1", "modality": "text", "text": ANSWERS[1], "meta": {"messages": [
                {"role": "user", "content": "Double x in Python."}, {"role": "assistant", "content": ANSWERS[1]}]}},
            {"id": "h2", "modality": "text", "text": ANSWERS[2], "meta": {"question": "Why are there tides?"}}]
    audio = []
    for i in range(2):
        make_audio(root / f"ha{i}.wav", seconds=0.8 + 0.4 * i, fmt="wav", freq=420.0 + 90 * i, seed=60 + i)
        audio.append({"id": f"ha{i}", "modality": "audio", "audio": str(root / f"ha{i}.wav"), "text": f"tone {i}"})
    return {"text": _write(root / "text.jsonl", cal), "held_text": _write(root / "held_text.jsonl", held),
            "held_audio": _write(root / "held_audio.jsonl", audio), "root": root}


@pytest.fixture(scope="module")
def text_scores(tiny_ckpt, manifests, data) -> Path:
    """Scores of prune with --text-data (S0 beside S1-S3), written by the CLI."""
    out = data["root"] / "scores.json"
    assert run(["prune", "--model-path", str(tiny_ckpt), "--audio-data", str(manifests["audio"]), "--video-data",
                str(manifests["video"]), "--mixed-data", str(manifests["mixed"]), "--text-data", str(data["text"]),
                "--calibration-samples", "3", "--video-max-pixels", "4096", "--dtype", "float32", "--dry-run",
                "--scores-out", str(out), "-q"]) == 0
    return out


def _eval(tiny_ckpt, data, scores, out: Path, retention: str, *extra, audio: bool = True) -> dict:
    media = ["--audio-data", str(data["held_audio"])] if audio else []
    assert run(["eval", "--model", str(tiny_ckpt), "--scores", str(scores), *media, "--text-data",
                str(data["held_text"]), "--retention", retention, "--dtype", "float32", "--max-new-tokens", "0",
                "--output", str(out), "--quiet", *extra]) == 0
    return json.loads((out / "eval.json").read_text())


@pytest.fixture(scope="module")
def sweep(tiny_ckpt, data, text_scores, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "out"
    return _eval(tiny_ckpt, data, text_scores, out, ",".join(f"{r:g}" for r in RATES)), out


def test_a_sweep_equals_one_value_runs(tiny_ckpt, data, text_scores, sweep, tmp_path):
    doc, out = sweep
    axis = doc["retention"]
    assert axis["rates"] == list(RATES) and list(doc["strata"]) == ["S1", "S0"]
    methods = ["reap-omni", "reap-s1", "reap-text", "reap-all", "frequency", "random"]  # S0 in the scores
    assert doc["meta"]["methods"] == ["original", *methods]
    for r in RATES:
        one = _eval(tiny_ckpt, data, text_scores, tmp_path / f"r{r:g}", f"{r:g}")
        assert one["meta"]["retention_rates"] == [r] and one["retention"]["rates"] == [r]
        for stratum, results in one["strata"].items():
            assert results["original"] == {**doc["strata"][stratum]["original"], "seconds": results["original"][
                "seconds"]}
            for m in methods:
                got = axis["strata"][stratum][m][f"{r:g}"]
                assert {f: got[f] for f in FIGURES} == {f: results[m][f] for f in FIGURES}, (stratum, m, r)
        if r == RATES[0]:  # the sweep's strata are its first retention, as a one-value run writes them
            assert {s: {m: {f: v[f] for f in FIGURES} for m, v in res.items()} for s, res in doc["strata"].items()} \
                == {s: {m: {f: v[f] for f in FIGURES} for m, v in res.items()} for s, res in one["strata"].items()}
    rows = [json.loads(line) for line in (out / "eval_rows.jsonl").read_text().splitlines()]
    assert {r.get("retention") for r in rows if r["method"] != "original"} == set(RATES)
    assert (out / "eval_retention.png").stat().st_size > 0


def test_retention_one_costs_nothing(sweep):
    doc, _ = sweep
    for stratum, methods in doc["retention"]["strata"].items():
        original = doc["strata"][stratum]["original"]
        for m, by_rate in methods.items():
            assert by_rate["1"]["kl"] == 0.0 and by_rate["1"]["top1"] == 1.0, (stratum, m)
            assert by_rate["1"]["nll"] == original["nll"]
        assert methods["random"]["0.25"]["kl"] > 1e-4  # and pruning does cost something


def test_the_report_ends_with_the_prune_commands_of_the_retentions_worth_writing(sweep, text_scores, tiny_ckpt):
    doc, out = sweep
    keep, commands = doc["retention"]["worth_keeping"], doc["retention"]["commands"]
    assert 1 <= len(keep) <= 3 and set(keep) <= set(RATES) and len(commands) == len(keep)
    md = (out / "eval.md").read_text()
    assert md.rstrip().endswith("```") and md.rstrip().splitlines()[-2] == commands[-1]
    parser = build_parser()
    for rate, command in zip(keep, commands, strict=True):
        argv = command.split()
        args = parser.parse_args(argv[1:])
        assert args.from_scores == str(text_scores) and args.retention_rate == rate
        assert args.model_path == str(tiny_ckpt)
    assert "| thinker size |" in md and "### S0 text" in md


def _thinker_parameters(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for f in sorted(folder.glob("*.safetensors")):
        with safe_open(str(f), "pt") as h:
            names = [k for k in h.keys() if k.startswith("thinker.")]  # noqa: SIM118 - safe_open is not iterable
            total += sum(math.prod(h.get_slice(k).get_shape()) for k in names)
    return total


def test_the_size_axis_is_what_prune_writes(sweep, text_scores, tiny_ckpt, tmp_path):
    doc, _ = sweep
    sizes = doc["retention"]["size"]
    assert sizes["1"]["parameters"] == _thinker_parameters(tiny_ckpt)
    for r in RATES[:-1]:
        out = tmp_path / f"pruned-{r:g}"
        assert run(["prune", "--model-path", str(tiny_ckpt), "--from-scores", str(text_scores), "--retention-rate",
                    f"{r:g}", "--output-path", str(out), "-q"]) == 0
        assert sizes[f"{r:g}"]["parameters"] == _thinker_parameters(out), r
        assert sizes[f"{r:g}"]["kept_per_layer"] == num_kept(r, 8, 2)
        assert sizes[f"{r:g}"]["bf16_gb"] == round(2 * sizes[f"{r:g}"]["parameters"] / 1e9, 4)


def test_the_real_30b_config_sizes_match_the_memory_plan(tmp_path):
    from reap_omni.evaluate.sizes import thinker_sizes
    from reap_omni.model.memory_plan import plan_placement
    from reap_omni.model.placement import Placement

    info = ModelInfo.read(write_real_config(tmp_path), "thinker")
    sizes = thinker_sizes(info, [128, 64])
    plan = plan_placement(info, Placement(dtype="bfloat16", max_memory={"cpu": 2**40}), check_devices=False)
    assert sizes[128]["parameters"] == plan.parameters and f"{plan.parameters / 1e9:.2f}" == "31.72"
    assert sizes[128]["bf16_gb"] == pytest.approx(63.44, abs=0.01)
    # each dropped expert: gate+up+down (3 x 768 x 2048) and a router row (2048), in 48 layers
    assert sizes[128]["parameters"] - sizes[64]["parameters"] == 48 * 64 * (3 * 768 * 2048 + 2048)


def test_reap_text_keeps_what_reap_on_the_text_rows_keeps(sweep, text_scores, data, tiny_loaded):
    doc, _ = sweep
    model, processor = tiny_loaded
    thinker = model.thinker
    blocks = find_moe_blocks(thinker)
    samples = load_samples(data["text"], "S0", 3)
    sums = torch.zeros(len(blocks), 8, dtype=torch.float64)
    counts = torch.zeros(len(blocks), 8, dtype=torch.int64)
    captured: dict[int, torch.Tensor] = {}
    handles = []
    for inputs, _chunk in iter_batches(processor, samples, "S0", 1, InputOptions()):
        captured.clear()
        handles = [b.module.register_forward_pre_hook(lambda m, a, i=i: captured.__setitem__(i, a[0].detach()))
                   for i, b in enumerate(blocks)]
        try:
            with torch.no_grad():
                thinker(**inputs, use_cache=False)
        finally:
            for h in handles:
                h.remove()
        for i, block in enumerate(blocks):
            s, c = reference_saliency(block, captured[i], inputs["attention_mask"])
            sums[i] += s
            counts[i] += c
    stats = load_scores(text_scores).strata["S0"]
    assert torch.equal(stats.counts, counts)
    torch.testing.assert_close(stats.sums, sums, rtol=1e-5, atol=1e-6)  # float32 model vs float64 reference
    reference = torch.where(counts > 0, sums / counts.clamp(min=1), torch.zeros_like(sums))
    kept = doc["retention"]["kept"]
    for r in RATES:
        want = select_experts(reference, num_kept(r, 8, 2)).tolist()
        assert kept[f"{r:g}"]["reap-text"] == want, r
    pooled = sum(load_scores(text_scores).strata[s].sums for s in ("S0", "S1", "S2", "S3"))
    assert not torch.equal(pooled, stats.sums)  # reap-all pools every stratum, unweighted
    assert kept["0.5"]["reap-all"] == select_experts(load_scores(text_scores).pooled().saliency(), 4).tolist()


def test_text_rows_flow_through_eval_with_their_answer_tokens(sweep, data, tiny_ckpt, text_scores, tmp_path):
    doc, _ = sweep
    s0 = doc["strata"]["S0"]["original"]
    assert s0["rows"] == 3 and s0["tokens"] == sum(len(a.encode()) for a in ANSWERS)  # one token per byte
    assert s0["kl"] == 0.0 and s0["top1"] == 1.0
    assert load_scores(text_scores).strata["S0"].tokens.min() > 0
    # an answer too long for --max-seq-len is cut at its end, and the tokens that are left are scored
    short = _eval(tiny_ckpt, data, text_scores, tmp_path / "short", "0.5", "--max-seq-len", "48",
                  "--methods", "reap-text", audio=False)
    cut = short["strata"]["S0"]["original"]
    assert cut["rows"] == 3 and 0 < cut["tokens"] < s0["tokens"]


def test_text_and_gamma_errors_are_one_line(tiny_ckpt, data, manifests, tmp_path, capsys):
    base = ["eval", "--model", str(tiny_ckpt), "--text-data", str(data["held_text"]), "--output", str(tmp_path / "o")]
    old = tmp_path / "old.json"
    assert run(["prune", "--model-path", str(tiny_ckpt), "--audio-data", str(manifests["audio"]), "--video-data",
                str(manifests["video"]), "--mixed-data", str(manifests["mixed"]), "--calibration-samples", "1",
                "--video-max-pixels", "4096", "--dry-run", "--scores-out", str(old), "-q"]) == 0
    capsys.readouterr()
    for extra, msg in ((["--scores", str(old), "--methods", "reap-text"], "reap-text needs S0 statistics"),
                       (["--scores", str(old), "--gamma", "1"], "--gamma needs S0 statistics"),
                       (["--methods", "random", "--retention", "0.5,0.5"], "--retention lists a value twice"),
                       (["--methods", "random", "--retention", "0.5,x"], "--retention takes numbers")):
        assert run(base + extra) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    assert run(["prune", "--model-path", str(tiny_ckpt), "--from-scores", str(old), "--gamma", "0.5", "--dry-run",
                "-q"]) == 2
    assert "holds no S0 statistics" in capsys.readouterr().err
