"""Load a Qwen3-Omni checkpoint for scoring, on one device or by a resolved placement, on this rank.

``prune`` (calibration), ``eval`` and ``heal``'s teacher load the same way: this rank's placement is planned
(``memory_plan``, its lines logged), the weights load straight onto the planned devices, and the callers get
the root module whose experts are scored, the execution device of its embeddings and its dtype.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reap_omni.errors import ReapOmniError
from reap_omni.model.audio_per_clip import run_audio_per_clip
from reap_omni.model.distributed import env_rank
from reap_omni.model.placement import torch_dtype

if TYPE_CHECKING:
    from reap_omni.model.distributed import Dist
    from reap_omni.model.info import ModelInfo
    from reap_omni.model.memory_plan import MemoryPlan
    from reap_omni.model.placement import Placement


def load_for_scoring(info: ModelInfo, placement: Placement):
    """Load the model part whose experts are scored; returns ``(root_module, full_model)``.

    For the thinker only the thinker weights are loaded (``enable_audio_output=False``), so the talker's
    ~3B parameters never take memory during calibration. With ``placement.device_map`` (a resolved map, see
    ``memory_plan.plan_placement``) the weights load straight onto their devices through accelerate; without
    one, the model loads on ``placement.device`` (a single-device map when accelerate is installed).
    """
    import torch
    from transformers import Qwen3OmniMoeForConditionalGeneration, Qwen3OmniMoeThinkerForConditionalGeneration

    kwargs: dict[str, Any] = {"dtype": torch_dtype(placement.dtype) or "auto", **info.load_kwargs()}
    move_to = None
    if placement.device_map is None:
        device = placement.device or "cpu"
        try:
            torch.empty(0, device=device)
        except (RuntimeError, AssertionError) as exc:
            raise ReapOmniError(f"device {device!r} is not usable: {exc}") from None
        if _has_accelerate():
            kwargs["device_map"] = {"": device}
        else:  # without accelerate transformers cannot load onto a device: load on the host, then move
            move_to = device
    else:
        kwargs["device_map"] = placement.device_map
        if placement.offload_folder:
            kwargs["offload_folder"] = str(placement.offload_folder)
    cls = Qwen3OmniMoeThinkerForConditionalGeneration if info.thinker_only else Qwen3OmniMoeForConditionalGeneration
    if env_rank() != 0:  # under torchrun one "Loading weights" bar (rank 0's), not one per rank
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    try:
        model = cls.from_pretrained(info.path, **kwargs)
    except RuntimeError as exc:  # weights that do not fit config.json (beyond the MoE tensors preflight checks)
        if "mismatched" not in str(exc) and "size mismatch" not in str(exc):
            raise
        raise ReapOmniError(f"the weights in {info.path} do not match its config.json (transformers: "
                            f"{str(exc).splitlines()[0]}; its report above names the tensors): re-download the "
                            "checkpoint") from None
    root = model if cls is Qwen3OmniMoeThinkerForConditionalGeneration else getattr(model, info.component)
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


def plan_for_rank(info: ModelInfo, placement: Placement, dist: Dist, check_devices: bool = True) -> MemoryPlan:
    """The memory plan of this rank's replica (or device-map slice); see ``memory_plan.plan_placement``."""
    from reap_omni.model.memory_plan import plan_placement

    return plan_placement(info, placement.for_rank(dist), check_devices=check_devices)


def load_processor(model_path: str):
    """The checkpoint's processor; a one-line error when it cannot be read."""
    from transformers import AutoConfig, AutoProcessor

    from reap_omni.model.memory_plan import first_line

    try:  # first: a config.json transformers refuses is a config fault, not the processor's
        AutoConfig.from_pretrained(model_path)
    except Exception as exc:  # noqa: BLE001 - transformers validates config fields with its own error types
        raise ReapOmniError(f"{model_path}/config.json is not a config transformers can read ({type(exc).__name__}: "
                            f"{first_line(exc)}): re-download it") from None
    try:
        processor = AutoProcessor.from_pretrained(model_path)
    except Exception as exc:  # noqa: BLE001 - any fault of the folder's files, before the model is loaded
        raise ReapOmniError(f"cannot load the processor from {model_path} ({type(exc).__name__}: {first_line(exc)}): "
                            "re-download its tokenizer and processor files") from None
    check_processor(processor, model_path)
    return processor


#: processor attribute -> the config key of the token id it must map to
_PROCESSOR_TOKENS = {"audio_token": "audio_token_id", "video_token": "video_token_id", "image_token": "image_token_id"}


def check_processor(processor, model_path: str) -> None:
    """The chat template is there and the tokenizer maps the media placeholders to config.json's ids: a missing
    ``tokenizer.json`` or ``chat_template.jinja`` otherwise loads, then fails inside the first forward."""
    from reap_omni.model.info import read_config

    if getattr(processor, "chat_template", None) is None:
        raise ReapOmniError(f"{model_path} has no chat template (chat_template.jinja or chat_template in "
                            "tokenizer_config.json): re-download it")
    cfg = read_config(model_path)
    ids = cfg.get("thinker_config", cfg)
    tokenizer = getattr(processor, "tokenizer", None)
    for attr, key in _PROCESSOR_TOKENS.items():
        token, want = getattr(processor, attr, None), ids.get(key) if isinstance(ids, dict) else None
        if tokenizer is None or token is None or want is None:
            continue
        got = tokenizer.convert_tokens_to_ids(token)
        if got != want:
            raise ReapOmniError(f"the tokenizer in {model_path} maps {token} to id {got}, config.json says {want}: "
                                "the tokenizer files are missing or from another model; re-download tokenizer.json "
                                "and tokenizer_config.json")


def load_on_rank(info: ModelInfo, placement: Placement, dist: Dist, log: Callable[[str], None]):
    """This rank's placement (its plan printed) and the model loaded by it, as calibration, ``eval`` and the
    teacher all load: ``(root, model, execution device of the embeddings, dtype)``."""
    from reap_omni.model.memory_plan import plan_placement

    mine = placement.for_rank(dist)
    plan = plan_placement(info, mine)
    for line in plan.lines():
        log(line)
    root, model = load_for_scoring(info, dataclasses.replace(
        mine, device_map=None if placement.device_map is None else plan.device_map))
    return root, model, execution_device(root, root.get_input_embeddings()), next(root.parameters()).dtype


_MODEL_DTYPE_INPUTS = ("input_features", "pixel_values", "pixel_values_videos")


def to_device(key: str, value, device, dtype):
    """Move an input to the device; media features take the model dtype, timings stay float32."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.to(device)
        return value.to(dtype) if key in _MODEL_DTYPE_INPUTS else value
    return value
