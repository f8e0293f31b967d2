"""One description of a Qwen3-Omni checkpoint folder: ``ModelInfo``, read once from ``config.json``.

Every model command (prune, eval, heal, the memory plan, checkpoint surgery, the scores' provenance) needs the
same facts about the component it works on: its nested text config, which layers are MoE layers, the expert
count and the key that holds it, the weights' key prefix, the dtype the config declares. They used to be
re-derived from ``config.json`` by each caller; now ``preflight.check_model`` (or ``ModelInfo.read``) builds
them once and the value is passed down. No torch here: the CLI checks a folder before torch loads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reap_omni.errors import ReapOmniError

if TYPE_CHECKING:
    from reap_omni.model.st_stream import TensorInfo

COMPONENTS = ("thinker", "talker")
SUPPORTED_MODEL_TYPES = ("qwen3_omni_moe", "qwen3_omni_moe_thinker")
THINKER_ONLY = "qwen3_omni_moe_thinker"


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
            f"{cfg_file}: model_type {mtype!r} is not supported; REAP-OMNI prunes Qwen3-Omni-MoE checkpoints "
            f"({', '.join(SUPPORTED_MODEL_TYPES)}): pass such a folder, or re-download its config.json"
        )
    return cfg


def component_text_config(cfg: dict[str, Any], component: str) -> dict[str, Any]:
    """The nested text config that owns ``num_experts`` for ``component`` (mutable view into ``cfg``)."""
    if cfg["model_type"] == THINKER_ONLY:
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
    return hashlib.sha256(json.dumps(text_cfg, sort_keys=True).encode()).hexdigest()


def experts_key(text_cfg: dict[str, Any]) -> str:
    """The config key holding the expert count: ``num_experts`` (the Instruct checkpoint), or
    ``num_local_experts`` (how transformers 5.x serialises the talker's text config)."""
    for key in ("num_experts", "num_local_experts"):
        if key in text_cfg:
            return key
    raise ReapOmniError("the component's text config has no num_experts: it has no MoE layers to prune")


def checkpoint_prefix(cfg: dict[str, Any], component: str) -> str:
    """Key prefix of the component's weights in the safetensors files."""
    return "" if cfg["model_type"] == THINKER_ONLY else f"{component}."


def load_kwargs(cfg: dict[str, Any], component: str) -> dict[str, Any]:
    """The config overrides ``from_pretrained`` gets: the talker only when scoring the talker."""
    return {} if cfg["model_type"] == THINKER_ONLY else {"enable_audio_output": component == "talker"}


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


@dataclass(frozen=True)
class ModelInfo:
    """One component of a checkpoint folder, as every model command sees it.

    Built once per folder and component: ``preflight.check_model`` (checked, with the shard headers) or
    ``ModelInfo.read`` (config only). ``text_config`` is a view into ``config``: treat both as read-only
    (surgery edits a copy).
    """

    path: Path
    component: str
    config: dict[str, Any]  # the whole config.json
    text_config: dict[str, Any]  # the component's nested text config (owns the expert count)
    layers: list[int]  # MoE layer indices
    num_experts: int
    top_k: int
    experts_key: str  # num_experts, or num_local_experts (transformers 5.x's talker)
    shards: list[str] = field(default_factory=list)  # safetensors files (filled by preflight.check_model)
    headers: dict[str, dict[str, TensorInfo]] = field(default_factory=dict)  # shard name -> tensor layout

    @classmethod
    def read(cls, model_path: str | Path, component: str = "thinker") -> ModelInfo:
        """``config.json`` only, no checks beyond what is needed to read it (``check_model`` checks it all)."""
        return cls.from_config(model_path, read_config(model_path), component)

    @classmethod
    def from_config(cls, model_path: str | Path, cfg: dict[str, Any], component: str, **more: Any) -> ModelInfo:
        text_cfg = component_text_config(cfg, component)
        key = experts_key(text_cfg)
        try:
            layers, n_exp, top_k = (moe_layers_from_config(text_cfg), int(text_cfg[key] or 0),
                                    int(text_cfg.get("num_experts_per_tok") or 0))
        except (TypeError, ValueError) as exc:
            raise ReapOmniError(f"{Path(model_path) / 'config.json'}: the {component}'s text config has a "
                                f"non-integer size ({exc}): re-download config.json") from None
        return cls(Path(model_path), component, cfg, text_cfg, layers, n_exp, top_k, key, **more)

    @property
    def model_type(self) -> str:
        return self.config["model_type"]

    @property
    def thinker_only(self) -> bool:
        """A thinker-only checkpoint (``Qwen3OmniMoeThinkerForConditionalGeneration``), no talker."""
        return self.model_type == THINKER_ONLY

    @property
    def prefix(self) -> str:
        """Key prefix of this component's weights in the safetensors files."""
        return checkpoint_prefix(self.config, self.component)

    @property
    def fingerprint(self) -> str:
        """sha256 of the component's text config: what scores record as ``text_config_sha256``."""
        return text_config_hash(self.text_config)

    @property
    def dtype(self) -> str | None:
        """The dtype ``config.json`` declares (``dtype``, or the older ``torch_dtype``; root, then thinker)."""
        for c in (self.config, self.config.get("thinker_config")):
            if isinstance(c, dict):
                d = c.get("dtype", c.get("torch_dtype"))
                if isinstance(d, str):
                    return d.removeprefix("torch.")
        return None

    @property
    def weight_bytes(self) -> int:
        """Bytes of tensor data over all shards (0 before ``check_model`` read the headers)."""
        return sum(t.end - t.start for h in self.headers.values() for t in h.values())

    def load_kwargs(self) -> dict[str, Any]:
        """The config overrides ``from_pretrained`` gets: the talker only when scoring the talker."""
        return load_kwargs(self.config, self.component)
