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
    model = cls.from_pretrained(info.path, **kwargs)
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
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(model_path)
    except (OSError, ValueError, TypeError) as exc:
        raise ReapOmniError(f"cannot load the processor from {model_path}: {exc}") from None


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
