"""The prune command end to end: the seed command verbatim, --dry-run, --from-scores, and user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from reap_omni.cli import run

REPO = Path(__file__).resolve().parents[2]


def _keys(folder: Path) -> set[str]:
    keys: set[str] = set()
    for f in folder.glob("*.safetensors"):
        with safe_open(f, framework="pt") as st:
            keys.update(st.keys())
    return keys


def _strata(manifests) -> list[str]:
    return ["--audio-data", str(manifests["audio"]), "--video-data", str(manifests["video"]),
            "--mixed-data", str(manifests["mixed"])]


@pytest.fixture(scope="module")
def seed_run(tiny_ckpt, manifests, tmp_path_factory):
    """The seed README's command, verbatim, through the root shim in a subprocess."""
    out = tmp_path_factory.mktemp("seed") / "pruned"
    cmd = [sys.executable, str(REPO / "reap_expert_pruning.py"), "--model-path", str(tiny_ckpt),
           "--output-path", str(out), *_strata(manifests), "--retention-rate", "0.5", "--calibration-samples", "100"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=manifests["audio"].parent, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_seed_command_writes_pruned_checkpoint(seed_run):
    out, proc = seed_run
    assert "8 -> 4 experts per layer" in proc.stderr
    scores = json.loads((out / "reap_omni_scores.json").read_text())
    assert scores["kept_per_layer"] == 4 and len(scores["kept"]) == 4
    assert (out / "reap_omni_scores.safetensors").is_file()
    assert (out / "reap_omni_scores.png").read_bytes()[:4] == b"\x89PNG"
    for s in ("S1", "S2", "S3"):
        assert sum(scores["strata"][s]["tokens"]) > 0
    assert scores["strata"]["S1"]["saliency"] != scores["strata"]["S2"]["saliency"]
    keys = _keys(out)
    assert {f"thinker.model.layers.0.mlp.experts.{i}.up_proj.weight" for i in range(4)} <= keys
    assert "thinker.model.layers.0.mlp.experts.4.up_proj.weight" not in keys


def test_from_scores_reproduces_the_selection_without_calibration(seed_run, tiny_ckpt, tmp_path, capsys):
    out, _ = seed_run
    again = tmp_path / "again"
    assert run(["prune", "--model-path", str(tiny_ckpt), "--output-path", str(again),
                "--from-scores", str(out / "reap_omni_scores.json"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "reap_omni_scores.json").read_text())
    assert [summary["kept"][str(i)] if str(i) in summary["kept"] else summary["kept"][i] for i in range(4)] \
        == saved["kept"]
    assert _keys(again) == _keys(out)


def test_from_scores_recomputes_for_new_lambda_and_rate(seed_run, tiny_ckpt, tmp_path, capsys):
    import torch

    from reap_omni.prune.scores import affinity, load_scores, select_experts

    out, _ = seed_run
    scores_file = out / "reap_omni_scores.json"
    assert run(["prune", "--model-path", str(tiny_ckpt), "--from-scores", str(scores_file), "--dry-run",
                "--retention-rate", "0.25", "--lambda", "0", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    sc = load_scores(scores_file)
    want = select_experts(affinity(sc.saliency("S1"), sc.saliency("S2"), sc.saliency("S3"), 0.0, 1.0), 2)
    assert [list(v) for v in summary["kept"].values()] == want.tolist()
    assert torch.equal(want, select_experts(sc.saliency("S1"), 2))


def test_dry_run_writes_scores_but_no_checkpoint(tiny_ckpt, manifests, tmp_path, capsys):
    scores = tmp_path / "s" / "scores.json"
    assert run(["prune", "--model-path", str(tiny_ckpt), *_strata(manifests), "--dry-run",
                "--calibration-samples", "1", "--scores-out", str(scores), "--video-max-pixels", "4096"]) == 0
    err = capsys.readouterr().err
    assert "dry run: would keep 4/8" in err
    assert scores.is_file() and scores.with_suffix(".safetensors").is_file() and scores.with_suffix(".png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def _err(argv, capsys) -> str:
    code = run(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_bad_inputs_give_one_line_errors(tiny_ckpt, manifests, tmp_path, capsys):
    base = ["prune", "--model-path", str(tiny_ckpt), "--output-path", str(tmp_path / "o")]
    # missing manifest and missing media
    err = _err([*base, "--audio-data", str(tmp_path / "nope.jsonl"), "--video-data", str(manifests["video"]),
                "--mixed-data", str(manifests["mixed"])], capsys)
    assert "--audio-data manifest not found" in err
    gone = tmp_path / "gone.jsonl"
    gone.write_text(json.dumps({"id": "x", "modality": "audio", "audio": str(tmp_path / "x.wav")}) + "\n")
    assert "media file not found" in _err([*base, "--audio-data", str(gone), "--video-data", str(manifests["video"]),
                                           "--mixed-data", str(manifests["mixed"])], capsys)
    # text-only manifest
    text = tmp_path / "text.jsonl"
    text.write_text(json.dumps({"id": "t1", "modality": "text", "text": "a sentence about a dog barking"}) + "\n")
    err = _err([*base, "--audio-data", str(manifests["audio"]), "--video-data", str(text),
                "--mixed-data", str(manifests["mixed"])], capsys)
    assert "text-only" in err and "S2" in err
    # retention rate outside (0, 1], and K below top-k
    for rate in ("0", "1.5", "-0.1"):
        assert "must be in (0, 1]" in _err([*base, *_strata(manifests), "--retention-rate", rate], capsys)
    assert "fewer than the 2 experts" in _err([*base, *_strata(manifests), "--retention-rate", "0.1"], capsys)
    # missing model folder; from-scores file missing
    assert "model folder not found" in _err(["prune", "--model-path", str(tmp_path / "m"), "--dry-run"], capsys)
    assert "scores file not found" in _err([*base, "--from-scores", str(tmp_path / "s.json")], capsys)


def test_model_without_moe_layers_is_refused(tmp_path, manifests, capsys):
    from reap_omni.prune.tiny import save_tiny_checkpoint

    dense = save_tiny_checkpoint(tmp_path / "dense", kind="thinker", layers=2, mlp_only_layers=[0, 1])
    err = _err(["prune", "--model-path", str(dense), "--output-path", str(tmp_path / "o"), *_strata(manifests)],
               capsys)
    assert "no MoE layers" in err


def test_shim_help_lists_the_seed_flags():
    proc = subprocess.run([sys.executable, str(REPO / "reap_expert_pruning.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for flag in ("--model-path", "--output-path", "--audio-data", "--video-data", "--mixed-data",
                 "--retention-rate", "--calibration-samples", "--lambda", "--beta", "--component", "--device",
                 "--dtype", "--batch-size", "--max-seq-len", "--dry-run", "--scores-out", "--from-scores"):
        assert flag in proc.stdout
