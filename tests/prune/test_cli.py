"""The prune command end to end: the seed command verbatim, --dry-run, --from-scores, and user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
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
    scores = json.loads((out / "reap_omni" / "scores.json").read_text())
    assert scores["kept_per_layer"] == 4 and len(scores["kept"]) == 4
    assert (out / "reap_omni" / "scores.safetensors").is_file()
    assert (out / "reap_omni" / "scores.png").read_bytes()[:4] == b"\x89PNG"
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
                "--from-scores", str(out / "reap_omni" / "scores.json"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "reap_omni" / "scores.json").read_text())
    assert [summary["kept"][str(i)] if str(i) in summary["kept"] else summary["kept"][i] for i in range(4)] \
        == saved["kept"]
    assert _keys(again) == _keys(out)


def test_from_scores_recomputes_for_new_lambda_and_rate(seed_run, tiny_ckpt, tmp_path, capsys):
    from reap_omni.prune.scores import affinity, load_scores, select_experts

    out, _ = seed_run
    scores_file = out / "reap_omni" / "scores.json"
    assert run(["prune", "--model-path", str(tiny_ckpt), "--from-scores", str(scores_file), "--dry-run",
                "--retention-rate", "0.25", "--lambda", "0", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    sc = load_scores(scores_file)
    want = select_experts(affinity(sc.saliency("S1"), sc.saliency("S2"), sc.saliency("S3"), 0.0, 1.0), 2)
    assert [list(v) for v in summary["kept"].values()] == want.tolist()
    assert torch.equal(want, select_experts(sc.saliency("S1"), 2))


def test_pruned_folder_holds_only_the_index_shards_as_safetensors(seed_run):
    """Tools that glob ``*.safetensors`` must see exactly the weights: the scores live in reap_omni/."""
    out, _ = seed_run
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert sorted(p.name for p in out.glob("*.safetensors")) == sorted(set(index["weight_map"].values()))
    assert sorted(p.name for p in (out / "reap_omni").iterdir()) == ["scores.json", "scores.png", "scores.safetensors"]
    assert not list(out.glob("reap_omni_scores*"))


@pytest.mark.parametrize("layout", ["folder", "legacy-files", "legacy-folder", "legacy-name-new-layout", "tensors"])
def test_from_scores_accepts_new_and_legacy_locations(seed_run, tmp_path, layout):
    """``--from-scores`` takes the scores JSON or tensor file, or a pruned folder, in either layout."""
    import shutil

    from reap_omni.prune.scores import load_scores

    out, _ = seed_run
    new = out / "reap_omni"
    want = load_scores(new / "scores.json")
    if layout == "folder":
        arg = out
    elif layout == "tensors":
        arg = new / "scores.safetensors"
    elif layout == "legacy-name-new-layout":  # the older README's path, on a folder written in the new layout
        arg = out / "reap_omni_scores.json"
    else:
        old = tmp_path / "old"
        old.mkdir()
        for suffix in ("json", "safetensors", "png"):
            shutil.copy(new / f"scores.{suffix}", old / f"reap_omni_scores.{suffix}")
        arg = old if layout == "legacy-folder" else old / "reap_omni_scores.json"
    got = load_scores(arg)
    assert got.layers == want.layers
    for s in ("S1", "S2", "S3"):
        assert torch.equal(got.strata[s].sums, want.strata[s].sums)


def test_scores_record_provenance_and_from_scores_refuses_another_model(seed_run, tiny_ckpt, tmp_path, capsys):
    import shutil

    out, _ = seed_run
    doc = json.loads((out / "reap_omni" / "scores.json").read_text())
    meta = doc["meta"]
    assert len(meta["text_config_sha256"]) == 64 and meta["token_policy"] == "all non-padding tokens"
    assert {"torch", "transformers"} <= set(meta["versions"]) and meta["world_size"] == 1
    other = tmp_path / "other"
    shutil.copytree(out / "reap_omni", other)
    meta["text_config_sha256"] = "0" * 64
    (other / "scores.json").write_text(json.dumps(doc))
    err = _err(["prune", "--model-path", str(tiny_ckpt), "--dry-run", "--from-scores", str(other / "scores.json")],
               capsys)
    assert "computed on a model whose thinker config differs" in err


def test_repruning_a_pruned_folder_does_not_copy_its_scores(seed_run, tmp_path):
    """A pruned folder (with its scores) used as the source: the new folder gets only its own scores."""
    from reap_omni.prune.surgery import prune_checkpoint

    out, _ = seed_run
    (out / "reap_omni_scores.json").write_text("{}")  # an older layout's leftover
    try:
        again = tmp_path / "again"
        prune_checkpoint(out, again, "thinker", {i: [0, 1, 2] for i in range(4)})
        assert not (again / "reap_omni").exists() and not list(again.glob("reap_omni_scores*"))
    finally:
        (out / "reap_omni_scores.json").unlink()


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
    assert "no scores in" in _err([*base, "--from-scores", str(tmp_path)], capsys)


def test_model_without_moe_layers_is_refused(tmp_path, manifests, capsys):
    from reap_omni.model.tiny import save_tiny_checkpoint

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
