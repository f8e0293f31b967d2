"""Checks of a model folder before any weight is read: config.json, the index, every shard header.

An interrupted download or a hand-edited config used to surface minutes into a 60 GB load, as a traceback
(``SafetensorError``, ``FileNotFoundError``, ``JSONDecodeError``, ``IndexError``), or not at all (a
checkpoint written that does not load). These checks read only ``config.json``, the index and each shard's
header (8 + N bytes, see ``st_stream.read_header``), so a checkpoint of 16 x 4 GB shards is checked in
milliseconds; each problem is one line naming the file and what to do. prune, eval, heal and checkpoint
surgery call ``check_model`` first and pass its ``ModelInfo`` down. This module imports no torch, so the CLI
runs ``check_model`` before torch loads: a broken download is reported in a fraction of a second. The checks
of saved scores and of a pruned folder against its original are ``prune.checks``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from reap_omni.errors import ReapOmniError
from reap_omni.model.info import (
    ModelInfo,
    component_text_config,
    experts_key,
    moe_layers_from_config,
    read_config,
)
from reap_omni.model.st_stream import read_header

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
_PROJECTIONS = ("gate_proj", "up_proj", "down_proj")
#: Sizes the MoE shape checks use; a config.json without them leaves them to transformers' defaults.
_SIZES = ("hidden_size", "moe_intermediate_size")


#: What the checks established about one component of a checkpoint folder: the ``ModelInfo`` with its shards
#: and their headers (the old name, kept for one release).
ModelFacts = ModelInfo


def moe_key_re(prefix: str) -> re.Pattern[str]:
    """Names of the MoE tensors of the component whose keys start with ``prefix``: per-expert projections,
    fused expert slabs (``gate_up_proj``, ``down_proj``) and the router (``gate.weight``)."""
    return re.compile(
        rf"^(?P<head>{re.escape(prefix)}model\.(?:language_model\.)?layers\.(?P<layer>\d+)\.mlp\.)"
        r"(?:experts\.(?P<expert>\d+)\.(?P<rest>.+)|experts\.(?P<fused>gate_up_proj|down_proj)|(?P<router>gate\.weight))$"
    )


def list_shards(model_dir: Path) -> tuple[list[str], dict[str, str] | None]:
    """Shard file names and the index weight map (None for a single-file checkpoint); each shard exists."""
    index = model_dir / INDEX_NAME
    if index.is_file():
        try:
            doc = json.loads(index.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReapOmniError(f"cannot read {index} ({exc}): re-download it") from None
        weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
        if not isinstance(weight_map, dict) or not weight_map or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()):
            raise ReapOmniError(f"{index} has no weight_map of tensor names to shard files: re-download it")
        shards = sorted(set(weight_map.values()))
        for s in shards:
            if Path(s).name != s or not s.endswith(".safetensors"):
                raise ReapOmniError(f"{index} names shard {s!r}, which is not a .safetensors file in {model_dir}: "
                                    "re-download the index")
            if not (model_dir / s).is_file():
                raise ReapOmniError(f"{index} names {s}, which is missing from {model_dir}: the download is "
                                    f"incomplete; re-download {s}")
        return shards, weight_map
    if (model_dir / SINGLE_NAME).is_file():
        return [SINGLE_NAME], None
    raise ReapOmniError(f"{model_dir} has no safetensors weights ({INDEX_NAME} or {SINGLE_NAME})")


def check_config(model_path: str | Path, component: str = "thinker") -> ModelInfo:
    """``model_path``'s config.json alone, for ``component`` (``--plan-only`` sizes a model from its config, so
    it needs no weights); one-line errors. The result is the model's description without the shards."""
    path = Path(model_path)
    cfg = read_config(path)
    _check_sub_configs(cfg, path / "config.json")
    text_cfg = component_text_config(cfg, component)
    _check_text_config(text_cfg, path / "config.json", _where(cfg, component))
    if not moe_layers_from_config(text_cfg):
        raise ReapOmniError(f"{path}: the {component} has no MoE layers: nothing to prune or evaluate")
    return ModelInfo.from_config(path, cfg, component)


def check_for_plan(model_path: str | Path, component: str = "thinker") -> ModelInfo:
    """What ``--plan-only`` needs: the config alone when the folder holds no weights yet (plan before the 60 GB
    download), else everything ``check_model`` checks (a broken shard is refused before the plan says it fits)."""
    path = Path(model_path)
    if not (path / INDEX_NAME).exists() and not (path / SINGLE_NAME).exists():
        return check_config(path, component)
    return check_model(path, component)


def check_model(model_path: str | Path, component: str = "thinker") -> ModelInfo:
    """config.json (``check_config``), the index and every shard header of ``model_path``, and the
    ``component``'s MoE tensors against its config; one-line errors. Reads no weights. The result is the
    model's one description (``ModelInfo``, headers included) that the commands pass down instead of reading
    config.json again."""
    path = Path(model_path)
    info = check_config(path, component)
    shards, weight_map = list_shards(path)
    headers = {s: read_header(path / s)[0] for s in shards}
    if weight_map is not None:
        for name, s in weight_map.items():
            if name not in headers[s]:
                raise ReapOmniError(f"{path / INDEX_NAME} puts {name} in {s}, which does not hold it: re-download "
                                    f"{s} and the index")
    info = dataclasses.replace(info, shards=shards, headers=headers)
    _check_moe_tensors(info)
    return info


_THINKER_PARTS = ("text_config", "audio_config", "vision_config")


def _check_sub_configs(cfg: dict[str, Any], cfg_file: Path) -> None:
    """The component configs ``from_pretrained`` builds the model from must be JSON objects."""
    thinker, prefix = cfg, ""
    if cfg["model_type"] != "qwen3_omni_moe_thinker":
        for key in ("talker_config", "code2wav_config"):
            if key in cfg:
                _require_object(cfg[key], cfg_file, key)
        _require_object(cfg.get("thinker_config"), cfg_file, "thinker_config")
        thinker, prefix = cfg["thinker_config"], "thinker_config."
    for key in _THINKER_PARTS:
        _require_object(thinker.get(key), cfg_file, prefix + key)


def _require_object(value: Any, cfg_file: Path, where: str) -> None:
    if not isinstance(value, dict):
        got = "missing" if value is None else f"a JSON {type(value).__name__}"
        raise ReapOmniError(f"{cfg_file}: {where} is {got}, not an object: re-download config.json")


def _where(cfg: dict[str, Any], component: str) -> str:
    return "text_config" if cfg["model_type"] == "qwen3_omni_moe_thinker" else f"{component}_config.text_config"


def _is_int(v: Any, least: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def _check_text_config(text_cfg: dict[str, Any], cfg_file: Path, where: str) -> tuple[int, int]:
    """The numbers the MoE checks and the selection use; returns ``(num_experts, num_experts_per_tok)``."""
    ekey = experts_key(text_cfg)
    for key in ("num_hidden_layers", ekey, "num_experts_per_tok", *_SIZES):
        if (key in text_cfg or key not in _SIZES) and not _is_int(text_cfg.get(key), 1):
            raise ReapOmniError(f"{cfg_file}: {where}.{key} is {text_cfg.get(key)!r}, not a positive integer: "
                                "re-download config.json")
    step, dense = text_cfg.get("decoder_sparse_step"), text_cfg.get("mlp_only_layers")
    if step is not None and not _is_int(step, 0):
        raise ReapOmniError(f"{cfg_file}: {where}.decoder_sparse_step is {step!r}, not an integer >= 0: "
                            "re-download config.json")
    if dense is not None and not (isinstance(dense, list) and all(_is_int(v, 0) for v in dense)):
        raise ReapOmniError(f"{cfg_file}: {where}.mlp_only_layers is {dense!r}, not a list of layer indices: "
                            "re-download config.json")
    n_exp, top_k = text_cfg[ekey], text_cfg["num_experts_per_tok"]
    if top_k > n_exp:
        raise ReapOmniError(f"{cfg_file}: {where} routes each token to {top_k} of its {n_exp} experts: "
                            "re-download config.json")
    return n_exp, top_k


def _expected_shapes(facts: ModelInfo) -> dict[str, tuple[int | None, ...]]:
    """Shapes of the MoE tensors by config.json; None for a size the config leaves to transformers' default."""
    e, h = facts.num_experts, facts.text_config.get("hidden_size")
    i = facts.text_config.get("moe_intermediate_size")
    return {"router": (e, h), "gate_proj": (i, h), "up_proj": (i, h), "down_proj": (h, i),
            "gate_up_proj": (e, None if i is None else 2 * i, h), "fused_down_proj": (e, h, i)}


def _check_moe_tensors(facts: ModelInfo) -> None:
    """Every MoE tensor of the component has the shape config.json implies, and every MoE layer is complete:
    a router plus all experts' projections (per expert, or fused). Weights that disagree with the config
    would fail to load (``ignore_mismatched_sizes``) or be re-initialised at random."""
    key_re = moe_key_re(facts.prefix)
    want = _expected_shapes(facts)
    moe = set(facts.layers)
    found: dict[int, set[str]] = {layer: set() for layer in facts.layers}
    for shard, infos in facts.headers.items():
        for name, info in infos.items():
            m = key_re.match(name)
            if m is None:
                continue
            layer = int(m.group("layer"))
            if layer not in moe:
                raise ReapOmniError(f"{facts.path / shard}: {name} is an MoE tensor, but config.json makes layer "
                                    f"{layer} of the {facts.component} dense or absent: the weights do not match "
                                    "config.json; re-download both")
            part = _classify(m, facts.num_experts, facts.path / shard, name)
            if part is None:
                continue
            found[layer].add(part)
            expect = want[part if part in want else part.split(".")[-1]]
            if _shape_fits(part, info.shape, expect):
                continue
            raise ReapOmniError(
                f"{facts.path / shard}: {name} has shape {list(info.shape)}, but config.json ({facts.num_experts} "
                f"experts, hidden size {want['router'][1]}, expert size {want['gate_proj'][0]}) implies "
                f"{[d if d is not None else '?' for d in expect]}: the weights do not match config.json; "
                "re-download both"
            )
    per_expert = {f"{e}.{p}" for e in range(facts.num_experts) for p in _PROJECTIONS}
    for layer, parts in found.items():
        missing = ["router"] if "router" not in parts else []
        if not {"gate_up_proj", "fused_down_proj"} <= parts:
            missing += sorted(per_expert - parts, key=lambda s: (int(s.split(".")[0]), s))
        if missing:
            label = {"router": "router (mlp.gate.weight)"}.get(missing[0], f"expert {missing[0]}")
            raise ReapOmniError(
                f"{facts.path}: the {facts.component}'s MoE layer {layer} has no {label} weights ({len(missing)} "
                f"MoE tensors missing for {facts.num_experts} experts): the checkpoint is incomplete or does not "
                "match config.json; re-download it"
            )


def _classify(m: re.Match[str], num_experts: int, shard: Path, name: str) -> str | None:
    """``router``, ``gate_up_proj``, ``fused_down_proj`` or ``<expert>.<projection>``; None for tensors that
    are not checked (biases, quantisation scales)."""
    if m.group("router"):
        return "router"
    if m.group("fused"):
        return "gate_up_proj" if m.group("fused") == "gate_up_proj" else "fused_down_proj"
    e = int(m.group("expert"))
    if e >= num_experts:
        raise ReapOmniError(f"{shard}: {name} is expert {e}, but config.json has {num_experts} experts: the weights "
                            "do not match config.json; re-download both")
    proj, _, suffix = m.group("rest").partition(".")
    if proj not in _PROJECTIONS or suffix != "weight":
        return None
    return f"{e}.{proj}"


def _shape_fits(part: str, shape: tuple[int, ...], expect: tuple[int | None, ...]) -> bool:
    """Fused slabs are stored [E, out, in] or [E, in, out] depending on the writer: either is accepted.
    A size of None (not in config.json) matches any."""
    if len(shape) != len(expect):
        return False
    dims = list(zip(shape, expect, strict=True))
    if part in ("gate_up_proj", "fused_down_proj") and not _dims_fit(dims):
        dims = [dims[0], (shape[1], expect[2]), (shape[2], expect[1])]  # the other orientation
    return _dims_fit(dims)


def _dims_fit(dims: list[tuple[int, int | None]]) -> bool:
    return all(want is None or have == want for have, want in dims)
