"""Broken model folders, score files and numbers are refused before any weight or media is read: exit 2, one line
naming the file, no traceback, nothing written, the model folder unchanged (prune, --from-scores, --plan-only, eval,
eval --pruned, surgery)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from reap_omni.cli import run
from reap_omni.errors import ReapOmniError
from reap_omni.model.info import ModelInfo
from reap_omni.prune.observer import StratumStats
from reap_omni.prune.scores import STRATA, Scores, save_scores, select, tensor_path_for

INDEX = "model.safetensors.index.json"
ROUTER = "thinker.model.layers.0.mlp.gate.weight"
EXPERT = "thinker.model.layers.1.mlp.experts.3.up_proj.weight"


class _Reached(Exception):
    """A loader that preflight must come before was called."""


@pytest.fixture
def sentinels(monkeypatch):
    """Weight loading, checkpoint writing and the reading of manifests/media raise ``_Reached``."""
    def boom(*_a, **_k):
        raise _Reached

    monkeypatch.setattr("reap_omni.model.load.load_for_scoring", boom)
    monkeypatch.setattr("reap_omni.prune.surgery.write_shard", boom)
    monkeypatch.setattr("reap_omni.prune.pipeline.load_samples", boom)
    monkeypatch.setattr("reap_omni.evaluate.pipeline.load_rows", boom)


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    out = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            data = f.read_bytes() if os.access(f, os.R_OK) else b""
            out[str(f.relative_to(folder))] = (f.stat().st_mode, hashlib.sha256(data).hexdigest())
    return out


def _shard_of(model: Path, name: str) -> Path:
    return model / json.loads((model / INDEX).read_text())["weight_map"][name]


def _rewrite_header(path: Path, edit) -> None:
    """Rewrite a shard's JSON header through ``edit(header)``, keeping the data bytes."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    edit(header)
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n:])


def _truncate(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def _edit_config(model: Path, edit) -> None:
    cfg = json.loads((model / "config.json").read_text())
    edit(cfg)
    (model / "config.json").write_text(json.dumps(cfg))


def _dtype(h):
    h[EXPERT]["dtype"] = "F16"  # the bytes stay those of F32


def _shape(h):
    h[EXPERT]["shape"] = [16, 64]  # same byte count, not the config's [moe_intermediate, hidden]


def _experts16(cfg):
    cfg["thinker_config"]["text_config"]["num_experts"] = 16


#: name -> (break the model folder, the file the error line must name, a word it must hold)
BREAKAGES = {
    "truncated shard": (lambda m: _truncate(_shard_of(m, ROUTER)), lambda m: _shard_of(m, ROUTER).name, "truncated"),
    "truncated header": (lambda m: _truncate(_shard_of(m, ROUTER), 0.0001), lambda m: _shard_of(m, ROUTER).name,
                         "truncated"),
    "padded shard": (lambda m: _shard_of(m, ROUTER).open("ab").write(b"\0" * 64), lambda m: _shard_of(m, ROUTER).name,
                     "after its last tensor"),
    "missing shard": (lambda m: _shard_of(m, ROUTER).unlink(), lambda m: _shard_of(m, ROUTER).name, "missing"),
    "truncated index": (lambda m: _truncate(m / INDEX), lambda m: INDEX, "re-download"),
    "config is a list": (lambda m: (m / "config.json").write_text("[]"), lambda m: "config.json", "re-download"),
    "config thinker_config is a list": (lambda m: _edit_config(m, lambda c: c.update(thinker_config=[])),
                                        lambda m: "config.json", "thinker_config"),
    "experts != config": (lambda m: _edit_config(m, _experts16), lambda m: _shard_of(m, ROUTER).name,
                          "do not match config.json"),
    "dtype != bytes": (lambda m: _rewrite_header(_shard_of(m, EXPERT), _dtype), lambda m: _shard_of(m, EXPERT).name,
                       "corrupt"),
    "expert of the wrong shape": (lambda m: _rewrite_header(_shard_of(m, EXPERT), _shape),
                                  lambda m: _shard_of(m, EXPERT).name, "do not match config.json"),
    "index names a tensor its shard lacks": (
        lambda m: _rewrite_header(_shard_of(m, EXPERT), lambda h: h.update({"x": h.pop(EXPERT)})),
        lambda m: INDEX, "does not hold it"),
    "unknown dtype": (lambda m: _rewrite_header(_shard_of(m, EXPERT), lambda h: h[EXPERT].update(dtype="F7")),
                      lambda m: _shard_of(m, EXPERT).name, "dtype"),
}


@pytest.fixture(scope="module")
def good_scores(tiny_ckpt, tmp_path_factory) -> Path:
    """Scores of the tiny model as ``--scores-out`` writes them, from generated statistics."""
    gen = torch.Generator().manual_seed(0)
    layers, e = [0, 1, 2, 3], 8
    strata = {s: StratumStats(torch.rand(4, e, generator=gen, dtype=torch.float64) * 5,
                              torch.randint(1, 50, (4, e), generator=gen), torch.full((4,), 100)) for s in STRATA}
    meta = {"text_config_sha256": ModelInfo.read(tiny_ckpt).fingerprint}
    scores = Scores("thinker", layers, e, 2, strata, meta)
    path = tmp_path_factory.mktemp("scores") / "scores.json"
    save_scores(path, scores, select(scores, 1.0, 1.0, 0.5))
    return path


@pytest.fixture
def broken_model(tiny_ckpt, tmp_path):
    def make(name: str) -> tuple[Path, str, str]:
        model = tmp_path / "model"
        shutil.copytree(tiny_ckpt, model)
        brk, names, word = BREAKAGES[name]
        names = names(model)  # before the break: a removed shard is still named by the index
        brk(model)
        return model, names, word
    return make


def _commands(model: Path, tmp: Path, manifests, scores: Path) -> dict[str, list[str]]:
    data = ["--audio-data", str(manifests["audio"]), "--video-data", str(manifests["video"]),
            "--mixed-data", str(manifests["mixed"])]
    return {
        "prune": ["prune", "--model-path", str(model), "--output-path", str(tmp / "out"), *data],
        "from-scores": ["prune", "--model-path", str(model), "--output-path", str(tmp / "out"),
                        "--from-scores", str(scores)],
        "plan-only": ["prune", "--model-path", str(model), "--plan-only"],
        "eval": ["eval", "--model", str(model), "--output", str(tmp / "eval"), "--methods", "random",
                 "--audio-data", str(manifests["audio"])],
    }


def _refused(argv: list[str], capsys) -> str:
    capsys.readouterr()
    code = run(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reap-omni: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", ["prune", "from-scores", "plan-only", "eval"])
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_model_folder_is_refused_before_loading(breakage, command, broken_model, manifests, good_scores,
                                                       tmp_path, capsys, sentinels):
    model, named, word = broken_model(breakage)
    before = _snapshot(model)
    line = _refused(_commands(model, tmp_path, manifests, good_scores)[command], capsys)
    assert named in line and word in line, line
    assert _snapshot(model) == before
    assert not (tmp_path / "out").exists() and not (tmp_path / "eval").exists()
    assert not list(tmp_path.glob(".out*")) and not (tmp_path / "out.calibration").exists()


def test_an_intact_model_reaches_the_loaders(tiny_ckpt, manifests, good_scores, tmp_path, sentinels, capsys):
    """The control of the test above: the same commands on the intact folder get past preflight to the loaders
    (so the sentinels sit on the real path, and preflight refuses nothing sound)."""
    for name, argv in _commands(tiny_ckpt, tmp_path, manifests, good_scores).items():
        if name == "plan-only":
            assert run(argv) == 0
            continue
        with pytest.raises(_Reached):
            run(argv)


def test_unreadable_shard_is_refused(tiny_ckpt, manifests, good_scores, tmp_path, capsys, sentinels):
    model = tmp_path / "model"
    shutil.copytree(tiny_ckpt, model)
    shard = _shard_of(model, ROUTER)
    shard.chmod(0)
    try:
        if os.access(shard, os.R_OK):
            pytest.skip("running as a user whom file permissions do not deny (root)")
        for argv in _commands(model, tmp_path, manifests, good_scores).values():
            line = _refused(argv, capsys)
            assert shard.name in line and "permission denied" in line
    finally:
        shard.chmod(0o600)


ATTENTION = "thinker.model.layers.0.self_attn.q_proj.weight"

#: faults only the processor or transformers' own config classes see -> (break the copy, words of the line). Checked
#: after the manifests are read, before any weight: the processor, the config, the shapes of the meta model.
LOAD_BREAKAGES = {
    # every vocabulary file: transformers 4.57 rebuilds a missing tokenizer.json from vocab.json + merges.txt
    "no tokenizer files": (lambda m: [(m / f).unlink(missing_ok=True) for f in ("tokenizer.json", "vocab.json",
                                                                              "merges.txt")],
                           ["tokenizer", "re-download"]),
    "no chat template": (lambda m: (m / "chat_template.jinja").unlink(), ["no chat template", "re-download"]),
    # 5.x's config classes name the field; 4.57's accept it and the meta model cannot be built from it
    "config field of the wrong type": (
        lambda m: _edit_config(m, lambda c: c["thinker_config"]["vision_config"].update(patch_size="16")),
        ["config.json", "re-download", ("patch_size", "cannot build")]),
    "config transformers cannot build": (
        lambda m: _edit_config(m, lambda c: c["thinker_config"]["text_config"].update(num_attention_heads=0)),
        ["config.json", "re-download"]),
    "attention weight of another shape": (
        lambda m: _rewrite_header(_shard_of(m, ATTENTION), lambda h: h[ATTENTION].update(shape=[16, 64])),
        [ATTENTION, "[16, 64]", "do not match config.json"]),
}


@pytest.fixture
def stop_at_weights(monkeypatch):
    """The weight loader raises ``_Reached``: the manifests may be read, the weights may not."""
    def boom(*_a, **_k):
        raise _Reached

    monkeypatch.setattr("reap_omni.model.load.load_for_scoring", boom)


@pytest.mark.parametrize("command", ["prune", "eval"])
@pytest.mark.parametrize("breakage", sorted(LOAD_BREAKAGES))
def test_processor_and_config_faults_are_one_line_before_the_weights(breakage, command, tiny_ckpt, manifests,
                                                                     good_scores, tmp_path, capsys, stop_at_weights):
    model = tmp_path / "model"
    shutil.copytree(tiny_ckpt, model)
    brk, words = LOAD_BREAKAGES[breakage]
    brk(model)
    line = _refused([*_commands(model, tmp_path, manifests, good_scores)[command], "--quiet"], capsys)
    assert all(any(x in line for x in w) if isinstance(w, tuple) else w in line for w in words), line


def test_unreadable_scores_name_the_file_at_fault(tiny_ckpt, good_scores, tmp_path, capsys, sentinels):
    folder = tmp_path / "scores"
    shutil.copytree(good_scores.parent, folder)
    (folder / "scores.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))  # the heatmap given instead of the JSON
    argv = ["prune", "--model-path", str(tiny_ckpt), "--output-path", str(tmp_path / "out"), "--from-scores"]
    line = _refused([*argv, str(folder / "scores.png")], capsys)
    assert "scores.png" in line and "give --scores-out's .json" in line, line
    _truncate(folder / "scores.safetensors")
    line = _refused([*argv, str(folder / "scores.json")], capsys)
    assert "scores.safetensors" in line and "recompute" in line, line


def test_surgery_refuses_a_broken_folder_before_writing(broken_model, tmp_path):
    from reap_omni.prune.surgery import prune_checkpoint

    for breakage in ("truncated shard", "dtype != bytes", "expert of the wrong shape"):
        model, named, _ = broken_model(breakage)
        with pytest.raises(ReapOmniError, match=named):
            prune_checkpoint(model, tmp_path / "out", "thinker", {i: [0, 1, 2, 3] for i in range(4)})
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
        shutil.rmtree(model)


def test_surgery_refuses_kept_ids_outside_the_experts(tiny_ckpt, tmp_path):
    from reap_omni.prune.surgery import prune_checkpoint

    for ids in ([0, 1, 2, 8], [0, 1, 1, 2], [-1, 0, 1, 2]):
        with pytest.raises(ReapOmniError, match="not distinct ids below 8"):
            prune_checkpoint(tiny_ckpt, tmp_path / "out", "thinker", {i: ids for i in range(4)})
    assert not list(tmp_path.iterdir())


# -- scores --------------------------------------------------------------------------------------------------------

def _break_scores(src: Path, dst: Path, edit) -> Path:
    dst.mkdir()
    shutil.copy(src, dst / src.name)
    tensors = load_file(tensor_path_for(src))
    edit(tensors)
    save_file({k: v.contiguous() for k, v in tensors.items()}, tensor_path_for(dst / src.name))
    return dst / src.name


SCORE_BREAKAGES = {
    "fewer layers than the JSON": lambda t: t.update({k: v[:3] for k, v in t.items() if k[:2] in ("S1", "S2", "S3")}),
    "fewer experts than the JSON": lambda t: t.update({k: v[:, :6] for k, v in t.items()
                                                      if k[:2] in ("S1", "S2", "S3") and v.dim() == 2}),
    "NaN sums": lambda t: t["S1_sums"].__setitem__((0, 0), float("nan")),
    "infinite sums": lambda t: t["S3_sums"].__setitem__((1, 2), float("inf")),
    "negative counts": lambda t: t["S2_counts"].__setitem__((0, 0), -4),
}


@pytest.mark.parametrize("command", ["from-scores", "eval"])
@pytest.mark.parametrize("breakage", sorted(SCORE_BREAKAGES))
def test_broken_scores_are_refused_before_loading(breakage, command, tiny_ckpt, manifests, good_scores, tmp_path,
                                                  capsys, sentinels):
    bad = _break_scores(good_scores, tmp_path / "bad", SCORE_BREAKAGES[breakage])
    before = _snapshot(tiny_ckpt)
    argv = _commands(tiny_ckpt, tmp_path, manifests, bad)[command]
    if command == "eval":
        argv = [*argv[:-4], "--methods", "reap-omni", "--scores", str(bad), *argv[-2:]]
    line = _refused(argv, capsys)
    assert "scores.safetensors" in line and "recompute" in line, line
    assert _snapshot(tiny_ckpt) == before and not (tmp_path / "out").exists()


# -- numbers -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, value", [("--lambda", "nan"), ("--lambda", "inf"), ("--lambda", "-1"),
                                         ("--beta", "nan"), ("--beta", "-inf"), ("--beta", "-0.5"),
                                         ("--retention-rate", "0"), ("--retention-rate", "1.5"),
                                         ("--retention-rate", "nan"), ("--retention-rate", "-0.5")])
@pytest.mark.parametrize("command", ["prune", "from-scores", "plan-only", "eval"])
def test_bad_numbers_are_refused(flag, value, command, tiny_ckpt, manifests, good_scores, tmp_path, capsys,
                                 sentinels):
    argv = _commands(tiny_ckpt, tmp_path, manifests, good_scores)[command]
    line = _refused([*argv, f"{flag}={value}"], capsys)
    assert flag in line, line
    assert not (tmp_path / "out").exists() and not (tmp_path / "eval").exists()


# -- eval --pruned -------------------------------------------------------------------------------------------------

def _eval_pruned(tiny_ckpt, pruned, manifests, tmp_path) -> list[str]:
    return ["eval", "--model", str(tiny_ckpt), "--output", str(tmp_path / "eval"), "--methods", "random",
            "--audio-data", str(manifests["audio"]), "--pruned", str(pruned)]


def test_eval_refuses_the_original_as_pruned(tiny_ckpt, manifests, tmp_path, capsys, sentinels):
    line = _refused(_eval_pruned(tiny_ckpt, tiny_ckpt, manifests, tmp_path), capsys)
    assert str(tiny_ckpt) in line and "not pruned" in line, line


@pytest.fixture(scope="module")
def pruned_folder(tiny_ckpt, tmp_path_factory) -> Path:
    from reap_omni.prune.surgery import prune_checkpoint

    out = tmp_path_factory.mktemp("pruned") / "pruned"
    prune_checkpoint(tiny_ckpt, out, "thinker", {i: [0, 2, 4, 6] for i in range(4)})
    return out


def test_eval_checks_the_pruned_folder(tiny_ckpt, pruned_folder, manifests, tmp_path, capsys, sentinels):
    pruned = tmp_path / "pruned"
    shutil.copytree(pruned_folder, pruned)
    with pytest.raises(_Reached):  # a sound pruned folder passes to the loaders
        run(_eval_pruned(tiny_ckpt, pruned, manifests, tmp_path))
    shard = next(pruned.glob("model-*.safetensors"))
    _truncate(shard)
    line = _refused(_eval_pruned(tiny_ckpt, pruned, manifests, tmp_path), capsys)
    assert shard.name in line and "truncated" in line, line


# -- MoE layouts ---------------------------------------------------------------------------------------------------

def test_a_missing_expert_is_refused(tiny_ckpt, tmp_path):
    """An index and shard that agree with each other but lack one expert: transformers would initialise it at
    random; preflight refuses the folder."""
    from reap_omni.model.preflight import check_model

    model = tmp_path / "model"
    shutil.copytree(tiny_ckpt, model)
    shard = _shard_of(model, EXPERT)
    tensors = load_file(shard)
    del tensors[EXPERT]
    save_file(tensors, shard, metadata={"format": "pt"})
    index = json.loads((model / INDEX).read_text())
    del index["weight_map"][EXPERT]
    (model / INDEX).write_text(json.dumps(index))
    with pytest.raises(ReapOmniError, match=r"MoE layer 1 has no expert 3\.up_proj weights"):
        check_model(model, "thinker")


def _fused_folder(folder: Path, gate_up: tuple[int, ...]) -> Path:
    """A thinker-only checkpoint saved with fused experts (what some writers produce): the MoE tensors only."""
    from reap_omni.model.tiny import thinker_config_dict

    folder.mkdir()
    cfg = thinker_config_dict()  # 8 experts, hidden 32, expert size 32, 4 MoE layers
    (folder / "config.json").write_text(json.dumps(cfg))
    tensors = {}
    for layer in range(4):
        head = f"model.layers.{layer}.mlp."
        tensors[head + "gate.weight"] = torch.zeros(8, 32)
        tensors[head + "experts.gate_up_proj"] = torch.zeros(gate_up)
        tensors[head + "experts.down_proj"] = torch.zeros(8, 32, 32)
    save_file(tensors, folder / "model.safetensors")
    return folder


def test_fused_expert_layout_is_checked(tmp_path):
    from reap_omni.model.preflight import check_model

    for ok in ((8, 64, 32), (8, 32, 64)):  # [E, 2I, H] or [E, H, 2I]
        assert check_model(_fused_folder(tmp_path / f"ok{ok[1]}", ok)).layers == [0, 1, 2, 3]
    with pytest.raises(ReapOmniError, match=r"experts\.gate_up_proj has shape \[8, 48, 32\]"):
        check_model(_fused_folder(tmp_path / "bad", (8, 48, 32)))
