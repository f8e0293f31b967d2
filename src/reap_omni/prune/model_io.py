"""Load a Qwen3-Omni checkpoint for scoring and find its MoE blocks, for both transformers layouts.

transformers 4.57 keeps one ``nn.Module`` per expert and a ``Linear`` router inside the block; 5.x fuses
the experts into 3-D tensors and moves routing into a top-k router module. The module paths also moved
(``model.layers`` -> ``model.language_model.layers``), so blocks are found by class name, never by path,
and each one is wrapped in a ``MoeBlock`` that computes one expert's own output for either layout.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reap_omni.errors import ReapOmniError
from reap_omni.prune.audio_per_clip import run_audio_per_clip
from reap_omni.prune.distributed import env_rank

COMPONENTS = ("thinker", "talker")
SUPPORTED_MODEL_TYPES = ("qwen3_omni_moe", "qwen3_omni_moe_thinker")
_LAYER_RE = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def read_config(model_path: str | Path) -> dict[str, Any]:
    """The checkpoint's ``config.json``; one-line errors for a missing folder or an unsupported model."""
    path = Path(model_path)
    cfg_file = path / "config.json"
    if not path.is_dir():
        raise ReapOmniError(f"model folder not found: {path}")
    if not cfg_file.is_file():
        raise ReapOmniError(f"{path} has no config.json; pass a Hugging Face checkpoint folder")
    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReapOmniError(f"cannot read {cfg_file}: {exc}; re-download it") from None
    if not isinstance(cfg, dict):
        raise ReapOmniError(f"{cfg_file} holds a JSON {type(cfg).__name__}, not the config object: re-download it")
    mtype = cfg.get("model_type")
    if mtype not in SUPPORTED_MODEL_TYPES:
        raise ReapOmniError(
            f"{path}: model_type {mtype!r} is not supported; REAP-OMNI prunes Qwen3-Omni-MoE checkpoints "
            f"({', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    return cfg


def component_text_config(cfg: dict[str, Any], component: str) -> dict[str, Any]:
    """The nested text config that owns ``num_experts`` for ``component`` (mutable view into ``cfg``)."""
    if cfg["model_type"] == "qwen3_omni_moe_thinker":
        if component != "thinker":
            raise ReapOmniError("this checkpoint holds the thinker only; --component talker needs the full model")
        sub, where = cfg, "text_config"
    else:
        sub, where = cfg.get(f"{component}_config"), f"{component}_config.text_config"
    if not isinstance(sub, dict) or not isinstance(sub.get("text_config"), dict):
        raise ReapOmniError(f"the checkpoint's config.json has no {where} object: re-download config.json")
    return sub["text_config"]


def moe_layers_from_config(text_cfg: dict[str, Any]) -> list[int]:
    """MoE layer indices by transformers' rule (mlp_only_layers, decoder_sparse_step, num_experts)."""
    n = int(text_cfg.get("num_hidden_layers", 0))
    step = int(text_cfg.get("decoder_sparse_step", 1) or 1)
    dense = set(text_cfg.get("mlp_only_layers") or [])
    if int(text_cfg.get("num_experts", text_cfg.get("num_local_experts", 0)) or 0) <= 0:
        return []
    return [i for i in range(n) if i not in dense and (i + 1) % step == 0]


def text_config_hash(text_cfg: dict[str, Any]) -> str:
    """sha256 of the component's text config (what scores must have been computed on)."""
    import hashlib

    return hashlib.sha256(json.dumps(text_cfg, sort_keys=True).encode()).hexdigest()


#: The thinker config's ids of the media placeholders and of the markers around each media span.
MEDIA_TOKEN_KEYS = ("audio_token_id", "video_token_id", "image_token_id", "audio_start_token_id",
                    "audio_end_token_id", "vision_start_token_id", "vision_end_token_id")


def media_token_ids(config) -> list[int]:
    """Ids of the tokens inside a modality span (placeholders and span markers), from the model's config."""
    ids = []
    for key in MEDIA_TOKEN_KEYS:
        value = getattr(config, key, None)
        if value is not None:
            ids.append(int(value))
    if not ids:
        raise ReapOmniError("the model config names no media token ids; --tokens media cannot tell media tokens")
    return sorted(set(ids))


def experts_key(text_cfg: dict[str, Any]) -> str:
    """The config key holding the expert count: ``num_experts`` (the Instruct checkpoint), or
    ``num_local_experts`` (how transformers 5.x serialises the talker's text config)."""
    for key in ("num_experts", "num_local_experts"):
        if key in text_cfg:
            return key
    raise ReapOmniError("the component's text config has no num_experts: it has no MoE layers to prune")


def checkpoint_prefix(cfg: dict[str, Any], component: str) -> str:
    """Key prefix of the component's weights in the safetensors files."""
    return "" if cfg["model_type"] == "qwen3_omni_moe_thinker" else f"{component}."


def torch_dtype(name: str):
    import torch

    table = {"auto": None, "float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if name not in table:
        raise ReapOmniError(f"unknown --dtype {name!r} (choose from {', '.join(table)})")
    return table[name]


def load_kwargs(cfg: dict[str, Any], component: str) -> dict[str, Any]:
    """The config overrides ``from_pretrained`` gets: the talker only when scoring the talker."""
    return {} if cfg["model_type"] == "qwen3_omni_moe_thinker" else {"enable_audio_output": component == "talker"}


def load_for_scoring(model_path: str | Path, component: str, device: str | None, dtype: str, *,
                     device_map: dict[str, Any] | None = None, offload_folder: str | None = None):
    """Load the model part whose experts are scored; returns ``(root_module, full_model)``.

    For the thinker only the thinker weights are loaded (``enable_audio_output=False``), so the talker's
    ~3B parameters never take memory during calibration. With ``device_map`` (a resolved map, see
    ``placement.plan_placement``) the weights load straight onto their devices through accelerate; without
    one, the model loads on ``device`` (a single-device map when accelerate is installed).
    """
    import torch
    from transformers import Qwen3OmniMoeForConditionalGeneration, Qwen3OmniMoeThinkerForConditionalGeneration

    cfg = read_config(model_path)
    component_text_config(cfg, component)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(dtype) or "auto", **load_kwargs(cfg, component)}
    move_to = None
    if device_map is None:
        device = device or "cpu"
        try:
            torch.empty(0, device=device)
        except (RuntimeError, AssertionError) as exc:
            raise ReapOmniError(f"device {device!r} is not usable: {exc}") from None
        if _has_accelerate():
            kwargs["device_map"] = {"": device}
        else:  # without accelerate transformers cannot load onto a device: load on the host, then move
            move_to = device
    else:
        kwargs["device_map"] = device_map
        if offload_folder:
            kwargs["offload_folder"] = str(offload_folder)
    cls = (Qwen3OmniMoeThinkerForConditionalGeneration if cfg["model_type"] == "qwen3_omni_moe_thinker"
           else Qwen3OmniMoeForConditionalGeneration)
    if env_rank() != 0:  # under torchrun one "Loading weights" bar (rank 0's), not one per rank
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    model = cls.from_pretrained(model_path, **kwargs)
    root = model if cls is Qwen3OmniMoeThinkerForConditionalGeneration else getattr(model, component)
    if move_to is not None:
        model.to(move_to)
    model.eval()
    run_audio_per_clip(root)  # statistics independent of --batch-size on every transformers version
    return root, model


def _has_accelerate() -> bool:
    try:
        import accelerate  # noqa: F401
    except ImportError:
        return False
    return True


def execution_device(root, module):
    """The device ``module`` computes on: its accelerate hook's execution device (the module's or an
    ancestor's, for offloaded weights), else the device of its first parameter."""
    import torch

    names = {id(m): n for n, m in root.named_modules()}
    name = names.get(id(module))
    if name is not None:
        parts = name.split(".") if name else []
        for i in range(len(parts), -1, -1):
            dev = _hook_device(getattr(root.get_submodule(".".join(parts[:i])), "_hf_hook", None))
            if dev is not None:
                return torch.device(dev if not isinstance(dev, int) else f"cuda:{dev}")
    for p in module.parameters():
        if p.device.type != "meta":
            return p.device
    return torch.device("cpu")


def _hook_device(hook):
    if hook is None:
        return None
    dev = getattr(hook, "execution_device", None)
    if dev is not None:
        return dev
    for h in getattr(hook, "hooks", ()):  # accelerate's SequentialHook
        dev = _hook_device(h)
        if dev is not None:
            return dev
    return None


@dataclass
class MoeBlock:
    """One sparse MoE block, seen the same way whatever the transformers layout."""

    layer: int
    name: str
    module: Any

    @property
    def fused(self) -> bool:
        return hasattr(self.module.experts, "gate_up_proj")

    @property
    def router_weight(self):
        return self.module.gate.weight

    @property
    def num_experts(self) -> int:
        return int(self.router_weight.shape[0])

    @property
    def top_k(self) -> int:
        return int(getattr(self.module, "top_k", None) or self.module.gate.top_k)

    @property
    def norm_topk_prob(self) -> bool:
        owner = self.module if hasattr(self.module, "norm_topk_prob") else self.module.gate
        return bool(owner.norm_topk_prob)

    def expert_output(self, e: int, x):
        """f_e(x): expert ``e``'s own MLP output, before any gate weight is applied."""
        import torch.nn.functional as F

        experts = self.module.experts
        if self.fused:
            gate, up = F.linear(x, experts.gate_up_proj[e]).chunk(2, dim=-1)
            return F.linear(experts.act_fn(gate) * up, experts.down_proj[e])
        mlp = experts[e]
        return mlp.down_proj(mlp.act_fn(mlp.gate_proj(x)) * mlp.up_proj(x))


    def sorted_expert_outputs(self, xs, counts):
        """f for token rows ``xs`` already sorted by expert, ``counts[e]`` rows each (one row per routed pair).

        The observer's fallback when it cannot reuse the model's own expert computation (it costs one extra
        pass over the routed experts). Fused weights go through one grouped matmul per projection (the kernel
        transformers uses); otherwise one matmul per hit expert.
        """
        import torch

        experts = self.module.experts
        grouped = getattr(torch, "_grouped_mm", None)
        if self.fused and grouped is not None:
            offs = torch.cumsum(counts, 0).to(torch.int32)
            try:
                gate, up = grouped(xs, experts.gate_up_proj.transpose(-1, -2), offs=offs).chunk(2, dim=-1)
                return grouped(experts.act_fn(gate) * up, experts.down_proj.transpose(-1, -2), offs=offs)
            except (RuntimeError, NotImplementedError, TypeError):
                pass  # dtype/device without a grouped kernel: fall back to one matmul per expert
        out, start = [], 0
        for e, n in enumerate(counts.tolist()):
            if n:
                out.append(self.expert_output(e, xs[start:start + n]))
                start += n
        return torch.cat(out) if out else xs.new_zeros(0, xs.shape[-1])


def find_moe_blocks(root) -> list[MoeBlock]:
    """Sparse MoE blocks under ``root`` (by class name), ordered by layer index."""
    blocks = []
    for name, module in root.named_modules():
        if not type(module).__name__.endswith("SparseMoeBlock"):
            continue
        if not (hasattr(module, "gate") and hasattr(module, "experts")):
            continue
        m = _LAYER_RE.search("." + name + ".")
        if m is None:
            raise ReapOmniError(f"cannot tell the layer index of MoE block {name}")
        blocks.append(MoeBlock(int(m.group(1)), name, module))
    blocks.sort(key=lambda b: b.layer)
    if not blocks:
        raise ReapOmniError(
            f"no MoE layers found in {type(root).__name__}: nothing to prune (is this a dense model?)"
        )
    counts = {b.num_experts for b in blocks}
    if len(counts) != 1:
        raise ReapOmniError(f"MoE layers disagree on the expert count ({sorted(counts)}); cannot prune uniformly")
    return blocks
