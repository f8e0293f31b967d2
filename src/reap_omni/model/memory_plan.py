"""Where the scored model's weights go: one device, or accelerate's big-model dispatch over several.

``--device cuda:0`` is a single-device map. ``--device-map auto|balanced|balanced_low_0|sequential`` lets
accelerate spread the layers over the GPUs (then CPU, then disk) within ``--max-memory``; a JSON map names
the device of each module. The map is resolved here, before any weight is read, on an empty (meta-device)
copy of the model built from ``config.json``: the plan printed (parameters and bytes per device) is the
map passed to ``from_pretrained``, so weights load straight onto their devices.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reap_omni.errors import ReapOmniError
from reap_omni.model.placement import Placement, device_key, device_label, torch_dtype

if TYPE_CHECKING:
    from reap_omni.model.info import ModelInfo

_OFFLOAD = ("cpu", "disk")


@dataclass
class MemoryPlan:
    """Parameters and bytes per device, and the device map to load with (None: load without one)."""

    component: str
    dtype: str
    parameters: int
    bytes: int
    per_device: dict[str, tuple[int, int]]  # device label -> (parameters, bytes), in placement order
    device_map: dict[str, int | str] | None
    budget: dict[str, int] = field(default_factory=dict)  # device label -> bytes allowed (given or detected)
    execution_device: str = "cpu"
    notes: list[str] = field(default_factory=list)  # placement changes the plan made, one line each

    def lines(self) -> list[str]:
        big = self.parameters >= 10**8  # the real model in B / GB; test-sized ones in M / MB
        count = (lambda n: f"{n / 1e9:.2f} B") if big else (lambda n: f"{n / 1e6:.2f} M")
        size = (lambda b: f"{b / 1e9:.1f} GB") if big else (lambda b: f"{b / 1e6:.1f} MB")
        out = [f"memory plan (weights only, from config.json): {self.component} {count(self.parameters)} parameters, "
               f"{size(self.bytes)} in {self.dtype}"]
        for dev, (n, b) in self.per_device.items():
            cap = f" of {self.budget[dev] / 1e9:.1f} GB" if dev in self.budget else ""
            note = f" (offloaded: computed on {self.execution_device})" if dev in _OFFLOAD and (
                self.execution_device != dev) else ""
            out.append(f"  {dev:<8s} {count(n):>9s} parameters {size(b):>9s}{cap}{note}")
        return out + self.notes


def _model_classes():
    from transformers import Qwen3OmniMoeForConditionalGeneration, Qwen3OmniMoeThinkerForConditionalGeneration

    return Qwen3OmniMoeForConditionalGeneration, Qwen3OmniMoeThinkerForConditionalGeneration


def empty_model(info: ModelInfo, dtype):
    """The model ``load_for_scoring`` would build, on the meta device: shapes only, no weights read."""
    import torch
    from transformers import AutoConfig

    full_cls, thinker_cls = _model_classes()
    cls = thinker_cls if info.thinker_only else full_cls
    try:
        config = AutoConfig.from_pretrained(info.path, **info.load_kwargs())
    except Exception as exc:  # noqa: BLE001 - transformers validates config fields with its own error types
        raise ReapOmniError(f"{info.path / 'config.json'} is not a config transformers can read ({type(exc).__name__}: "
                            f"{first_line(exc)}): re-download it") from None
    if dtype is None:  # "auto": what config.json declares, float32 when it declares nothing
        declared = getattr(torch, info.dtype, None) if info.dtype else None
        dtype = declared if isinstance(declared, torch.dtype) else torch.float32
    try:
        with torch.device("meta"):
            model = cls(config)
    except Exception as exc:  # noqa: BLE001 - a value the model cannot be built from (0 heads, ...)
        raise ReapOmniError(f"transformers cannot build the model {info.path / 'config.json'} describes "
                            f"({type(exc).__name__}: {first_line(exc)}): re-download config.json") from None
    model.to(dtype)
    return model, dtype


def _plain(name: str) -> str:
    """A tensor name without its ``model``/``language_model`` levels, which transformers versions add or drop
    between the checkpoint's keys and the module tree: what both spell alike."""
    return ".".join(part for part in name.split(".") if part not in ("model", "language_model"))


def check_shapes(model, info: ModelInfo) -> None:
    """Every checkpoint tensor the (meta) model has a parameter for has that parameter's shape: weights that do
    not fit config.json are refused before loading, naming the shard and tensor (the MoE tensors, which
    transformers may fuse, are ``preflight``'s)."""
    from reap_omni.model.preflight import moe_key_re

    key_re = moe_key_re(info.prefix)
    found: dict[str, list[tuple[str, str, tuple[int, ...]]]] = defaultdict(list)
    for shard, tensors in info.headers.items():
        for name, t in tensors.items():
            if not key_re.match(name):
                found[_plain(name)].append((shard, name, tuple(t.shape)))
    for name, p in model.named_parameters():
        hits = found.get(_plain(name), [])
        if len(hits) != 1:  # not in this checkpoint under a name we can tell, or ambiguous: transformers' to judge
            continue
        shard, key, shape = hits[0]
        if shape != tuple(p.shape):
            raise ReapOmniError(f"{info.path / shard}: {key} has shape {list(shape)}, but the model config.json "
                                f"describes needs {list(p.shape)}: the weights do not match config.json; "
                                "re-download both")


def first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:2])[:300]


def _most_specific_first(device_map: dict[str, Any]) -> list[str]:
    return sorted(device_map, key=lambda k: (k.count("."), len(k)), reverse=True)


def _covering_key(keys: list[str], name: str) -> str | None:
    """The entry of a device map (``keys`` most specific first) that places module or parameter ``name``."""
    return next((k for k in keys if k == "" or name == k or name.startswith(k + ".")), None)


def _tally(model, device_map: dict[str, int | str]) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Parameters and bytes per device under ``device_map``; names of parameters it does not place."""
    keys = _most_specific_first(device_map)
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missing: list[str] = []
    seen: set[int] = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:  # tied weights are stored once
            continue
        seen.add(id(p))
        key = _covering_key(keys, name)
        if key is None:
            missing.append(name)
            continue
        slot = per[device_label(device_map[key])]
        slot[0] += p.numel()
        slot[1] += p.numel() * p.element_size()
    return {d: (n, b) for d, (n, b) in per.items()}, missing


def _order(labels) -> list[str]:
    def rank(label: str):
        if label.startswith("cuda:"):
            return (0, int(label.split(":")[1]))
        return (1, ("mps", "cpu", "disk").index(label) if label in ("mps", "cpu", "disk") else 9)

    return sorted(labels, key=rank)


def _top_level_names(model, depth: int = 4) -> list[str]:
    names = [n for n, _ in model.named_modules() if n and n.count(".") < depth]
    return names[:6]


def _summary(budget: dict[str, int]) -> str:
    """``2 x 24.0 GB`` (+ ``cpu 60.0 GB``): what the placement was given."""
    gpus = [b for d, b in budget.items() if d.startswith("cuda:")]
    parts = []
    if gpus:
        sizes = sorted(set(gpus))
        parts.append(" + ".join(f"{gpus.count(s)} x {s / 1e9:.1f} GB" for s in sizes))
    for d in ("mps", "cpu"):
        if d in budget:
            parts.append(f"{d} {budget[d] / 1e9:.1f} GB")
    return " + ".join(parts) or "nothing"


def _detected_memory() -> dict[int | str, int]:
    """Free memory per GPU and available host RAM, as accelerate would see it."""
    from accelerate.utils import get_max_memory

    return get_max_memory(None)


def plan_placement(info: ModelInfo, placement: Placement, *, check_devices: bool = True) -> MemoryPlan:
    """Resolve ``placement`` for ``info``'s component and check it fits; one-line ``ReapOmniError`` when it
    cannot.

    ``check_devices=False`` plans for GPUs this machine does not have (``--plan-only``: sizing a target).
    """
    import torch

    component, device, device_map = info.component, placement.device, placement.device_map
    max_memory, offload_folder = placement.max_memory, placement.offload_folder
    model, dtype = empty_model(info, torch_dtype(placement.dtype))
    check_shapes(model, info)
    dtype_str = str(dtype).removeprefix("torch.")
    total_n = total_b = 0
    seen: set[int] = set()
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total_n += p.numel()
            total_b += p.numel() * p.element_size()
    need = f"needs {total_b / 1e9:.1f} GB"

    if device_map is None:  # one device
        dev = device or "cpu"
        resolved: dict[str, int | str] = {"": dev}
        per = {dev: (total_n, total_b)}
        budget = _single_device_budget(dev, max_memory)
        if dev in budget and total_b > budget[dev]:
            raise ReapOmniError(f"{need}, {dev} has {budget[dev] / 1e9:.1f} GB: use --device-map auto over several "
                                f"GPUs, --max-memory, or offload")
        return MemoryPlan(component, dtype_str, total_n, total_b, per, resolved, budget, dev)

    try:
        import accelerate  # noqa: F401
    except ImportError:
        from reap_omni.install_hint import install_command

        raise ReapOmniError(f"--device-map needs accelerate (the [prune] extra): {install_command('prune')}") from None
    if isinstance(device_map, str):
        with _quiet_accelerate(not check_devices):  # planning for GPUs this machine lacks: no "not available"
            resolved, budget = _infer_map(model, device_map, max_memory)
    else:
        resolved = dict(device_map)
        given = max_memory if max_memory is not None else _detected_memory()
        budget = {device_label(k): v for k, v in given.items()}
    unknown = [k for k in resolved if k and not _names_module(model, k)]
    if unknown:
        raise ReapOmniError(f"--device-map names {unknown[0]!r}, which is no module of the model; modules are "
                            f"named like {', '.join(_top_level_names(model))}")
    resolved = _no_root_offload(model, resolved)
    per, missing = _tally(model, resolved)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ReapOmniError(f"--device-map gives no device for {missing[0]}{more}; map every module, e.g. with a "
                            f"\"\" entry for the rest")
    per = {d: per[d] for d in _order(per)}
    if "disk" in per and not offload_folder:
        raise ReapOmniError(f"{need}, {_summary(budget)} given: add GPUs, --max-memory, or offload "
                            "(--offload-folder DIR puts what does not fit on disk)")
    over = [d for d, (_n, b) in per.items() if d in budget and d != "disk" and b > budget[d]]
    if over and not isinstance(device_map, str):
        d = over[0]
        raise ReapOmniError(f"--device-map puts {per[d][1] / 1e9:.1f} GB on {d}, which has {budget[d] / 1e9:.1f} GB: "
                            "move modules elsewhere, raise --max-memory, or offload")
    gpus = [d for d in per if d not in _OFFLOAD]
    execution = gpus[0] if gpus else "cpu"
    notes: list[str] = []
    pinned = _pin_offload_unsafe(model, resolved, execution)
    if pinned != resolved:
        notes = [f"  {name} stays on {execution}: this transformers' vision encoder cannot run offloaded"
                 for name in pinned.keys() - resolved.keys()]
        resolved = pinned
        per, _missing = _tally(model, resolved)
        per = {d: per[d] for d in _order(per)}
    for d in gpus if check_devices else ():
        if d.startswith("cuda:") and not _cuda_usable(int(d.split(":")[1])):
            raise ReapOmniError(f"the placement uses {d}, but torch sees {torch.cuda.device_count()} GPU(s)")
    return MemoryPlan(component, dtype_str, total_n, total_b, per, resolved, budget, execution, notes)


@contextlib.contextmanager
def _quiet_accelerate(quiet: bool):
    log = logging.getLogger("accelerate.utils.modeling")
    before = log.level
    if quiet:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(before)


def _no_root_offload(model, resolved: dict[str, int | str]) -> dict[str, int | str]:
    """``{"": "disk", ...}`` (the rest on disk) spelled without the root entry: transformers 4.57 opens every
    shard on the root entry's device, and "disk" is none; 5.x loads either spelling the same way. The other
    entries keep their devices (``_split_down_to``: no entry is left inside another one)."""
    if resolved.get("") != "disk":
        return resolved
    out = dict(resolved)
    for key in [k for k in resolved if k]:
        out = _split_down_to(model, out, key)
    return _split(model, out, "") if "" in out else out


def _offload_unsafe(model) -> list[str]:
    """Encoders that make tensors on their own weights' device inside ``forward``: offloaded, those weights
    are on the meta device until each child's own hook runs, so the forward fails. transformers 4.57's vision
    encoder builds its position-embedding indices on ``pos_embed.weight.device`` this way; 5.x builds them
    from the input. Probed on the (meta) model itself: such an encoder answers on the meta device."""
    import torch

    unsafe = []
    for name, module in model.named_modules():
        probe = getattr(module, "fast_pos_embed_interpolate", None)
        if not callable(probe):
            continue
        try:
            with torch.no_grad():
                got = probe(torch.tensor([[1, 2, 2]]))
            on_meta = getattr(got, "device", torch.device("cpu")).type == "meta"
        except (RuntimeError, NotImplementedError, TypeError, ValueError, IndexError):
            on_meta = True
        if on_meta:
            unsafe.append(name)
    return unsafe


def _pin_offload_unsafe(model, resolved: dict[str, int | str], execution: str) -> dict[str, int | str]:
    """``resolved`` with every offload-unsafe encoder that it offloads moved whole to ``execution``."""
    out = dict(resolved)
    for name in _offload_unsafe(model):
        inside = {device_label(v) for k, v in resolved.items() if k.startswith(name + ".")}
        key = _covering_key(_most_specific_first(resolved), name)
        devs = inside | ({device_label(resolved[key])} if key is not None else set())
        if not any(d == "disk" or (d == "cpu" and execution != "cpu") for d in devs):
            continue
        out = {k: v for k, v in _split_down_to(model, out, name).items() if not k.startswith(name + ".")}
        out[name] = int(execution.split(":")[1]) if execution.startswith("cuda:") else execution
    return out


def _split_down_to(model, resolved: dict[str, int | str], name: str) -> dict[str, int | str]:
    """The same placement with ``name`` as an entry of its own that no other entry covers: each covering entry
    is replaced by one entry per child, level by level (transformers 4.57 does not let a nested entry override
    its parent's device)."""
    out = dict(resolved)
    while (key := _covering_key(_most_specific_first({k: v for k, v in out.items() if k != name}), name)) is not None:
        out = _split(model, out, key)
    return out


def _split(model, resolved: dict[str, int | str], key: str) -> dict[str, int | str]:
    """``key``'s entry replaced by one per child module, on the same device (children with entries keep them)."""
    out = dict(resolved)
    dev = out.pop(key)
    parent = model.get_submodule(key) if key else model
    for child, _m in parent.named_children():
        out.setdefault(f"{key}.{child}" if key else child, dev)
    return out


def _names_module(model, key: str) -> bool:
    try:
        model.get_submodule(key)
        return True
    except AttributeError:
        try:
            model.get_parameter(key)
            return True
        except AttributeError:
            return False


def _cuda_usable(index: int) -> bool:
    import torch

    return torch.cuda.is_available() and index < torch.cuda.device_count()


def _single_device_budget(dev: str, max_memory) -> dict[str, int]:
    import torch

    if max_memory:
        key = device_key(dev, "--device")
        if key in max_memory:
            return {dev: max_memory[key]}
    try:
        d = torch.device(dev)
    except RuntimeError:
        return {}
    if d.type == "cuda" and torch.cuda.is_available() and (d.index or 0) < torch.cuda.device_count():
        return {dev: int(torch.cuda.get_device_properties(d.index or 0).total_memory)}
    if d.type == "cpu":
        try:
            import psutil
        except ImportError:
            return {}
        return {dev: int(psutil.virtual_memory().total)}
    return {}


def _infer_map(model, strategy: str, max_memory) -> tuple[dict[str, int | str], dict[str, int]]:
    """accelerate's placement for ``strategy`` (transformers' own procedure for a string ``device_map``)."""
    from accelerate import infer_auto_device_map
    from accelerate.utils import get_balanced_memory, get_max_memory

    no_split = sorted(getattr(model, "_no_split_modules", None) or [])
    mem = dict(max_memory) if max_memory is not None else None
    budget_src = get_max_memory(dict(mem) if mem is not None else None)
    if strategy == "sequential":
        inferred = budget_src
    else:
        inferred = get_balanced_memory(model, max_memory=dict(mem) if mem is not None else None,
                                       no_split_module_classes=no_split, low_zero=strategy == "balanced_low_0")
    resolved = infer_auto_device_map(model, max_memory=inferred, no_split_module_classes=no_split)
    budget = {device_label(k): int(v) for k, v in budget_src.items() if k != "disk"}
    return dict(resolved), budget
