"""Where a model's weights go and in what dtype: one ``Placement`` value, and the parsing of its flags.

``--device``, ``--device-map``, ``--max-memory``, ``--offload-folder`` and ``--dtype`` mean the same for
``prune``, ``eval`` and ``heal``'s teacher, so the options classes hold one ``Placement`` instead of five
fields each, and ``Placement.for_rank`` gives a torchrun rank its own slice. The memory plan that resolves a
placement against the model is ``memory_plan``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reap_omni.errors import ReapOmniError

if TYPE_CHECKING:
    from reap_omni.model.distributed import Dist

STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str, what: str = "--max-memory") -> int:
    """``20GiB``, ``24GB``, ``512MiB``, ``1.5TB`` or a byte count -> bytes."""
    m = _SIZE_RE.match(str(text))
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise ReapOmniError(f"{what}: cannot read size {text!r} (use e.g. 20GiB, 24GB, 512MiB)")
    return int(float(m.group(1)) * _UNITS[unit])


def device_key(text: str, what: str) -> int | str:
    key = str(text).strip().lower()
    if key.isdigit():
        return int(key)
    m = re.fullmatch(r"cuda:(\d+)", key)
    if m:
        return int(m.group(1))
    if key in ("cpu", "disk", "mps"):
        return key
    raise ReapOmniError(f"{what}: unknown device {text!r} (use a GPU index such as 0, cuda:1, cpu or disk)")


def parse_max_memory(text: str | None) -> dict[int | str, int] | None:
    """``0=20GiB,1=20GiB,cpu=60GiB`` -> ``{0: bytes, 1: bytes, "cpu": bytes}``."""
    if not text:
        return None
    out: dict[int | str, int] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ReapOmniError(f"--max-memory: expected DEVICE=SIZE, got {part.strip()!r} (e.g. 0=20GiB,cpu=60GiB)")
        dev, size = part.split("=", 1)
        out[device_key(dev, "--max-memory")] = parse_size(size)
    if not out:
        raise ReapOmniError("--max-memory is empty (e.g. 0=20GiB,1=20GiB,cpu=60GiB)")
    return out


def parse_device_map(text: str | None) -> str | dict[str, int | str] | None:
    """A strategy name, a JSON object ``{"module.name": device, ...}``, or a path to such a JSON file."""
    if text is None:
        return None
    text = text.strip()
    if text in STRATEGIES:
        return text
    raw = text
    if not text.startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise ReapOmniError(
                f"--device-map {text!r}: expected {', '.join(STRATEGIES)}, a JSON object or a JSON file"
            )
        try:
            raw = path.read_text()
        except OSError as exc:
            raise ReapOmniError(f"--device-map: cannot read {path}: {exc.strerror or exc}") from None
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ReapOmniError(f"--device-map is not valid JSON: {exc}") from None
    if not isinstance(obj, dict) or not obj:
        raise ReapOmniError("--device-map JSON must be a non-empty object of module name -> device")
    return {str(k): device_key(v, "--device-map") for k, v in obj.items()}


def torch_dtype(name: str):
    """``--dtype`` -> the torch dtype (None for ``auto``: what the checkpoint declares)."""
    import torch

    table = {"auto": None, "float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if name not in table:
        raise ReapOmniError(f"unknown --dtype {name!r} (choose from {', '.join(table)})")
    return table[name]


def device_label(dev: int | str) -> str:
    return f"cuda:{dev}" if isinstance(dev, int) else str(dev)


@dataclass(frozen=True)
class Placement:
    """The five placement flags as one value: one device, or a device map (a strategy or module -> device)
    within ``max_memory`` (device -> bytes), ``offload_folder`` for what fits nowhere else, and the dtype."""

    device: str | None = None  # one device (default cpu); exclusive with device_map
    device_map: str | dict[str, Any] | None = None  # a strategy (auto, balanced, ...) or module -> device
    max_memory: dict[Any, int] | None = None  # device -> bytes, for device_map strategies
    offload_folder: str | None = None  # where weights that fit nowhere else go (accelerate disk offload)
    dtype: str = "auto"

    def check(self) -> None:
        if self.device is not None and self.device_map is not None:
            raise ReapOmniError("pass --device (one device) or --device-map (several), not both")

    def for_rank(self, dist: Dist) -> Placement:
        """This torchrun rank's placement: its own device, its slice of a JSON device map or its share of the
        GPUs and host memory under a strategy, and its own offload subfolder. Unchanged without torchrun."""
        from reap_omni.model.distributed import rank_device_map, rank_folder, rank_max_memory

        device_map, max_memory = self.device_map, self.max_memory
        if dist.active and device_map is not None:
            if isinstance(device_map, str):
                import torch

                max_memory = rank_max_memory(dist, max_memory, torch.cuda.device_count())
            else:
                device_map = rank_device_map(dist, device_map)
        return dataclasses.replace(self, device=dist.rank_device(self.device), device_map=device_map,
                                   max_memory=max_memory, offload_folder=rank_folder(self.offload_folder, dist))


#: The options fields ``Placement`` replaced (``PruneOptions``, ``CalibrationSettings``, ``EvalOptions``,
#: ``TeacherOptions``): still accepted as keywords and attributes for one release, with a DeprecationWarning.
PLACEMENT_FIELDS = tuple(f.name for f in dataclasses.fields(Placement))


def placement_keywords(cls):
    """Class decorator for an options dataclass with a ``placement`` field: ``Opts(device="cuda:0")`` and
    ``opts.device`` keep working for one release (folded into / read from ``placement``), with a warning."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        old = {k: kwargs.pop(k) for k in PLACEMENT_FIELDS if k in kwargs}
        if old:
            _warn(cls, ", ".join(old))
            kwargs["placement"] = dataclasses.replace(kwargs.get("placement") or Placement(), **old)
        init(self, *args, **kwargs)

    def accessor(name: str) -> property:
        def get(self):
            _warn(cls, name)
            return getattr(self.placement, name)

        def set_(self, value) -> None:
            _warn(cls, name)
            self.placement = dataclasses.replace(self.placement, **{name: value})

        return property(get, set_, doc=f"Deprecated: ``placement.{name}``.")

    cls.__init__ = __init__
    for name in PLACEMENT_FIELDS:
        setattr(cls, name, accessor(name))
    return cls


def _warn(cls: type, names: str) -> None:
    warnings.warn(f"{cls.__name__}: {names} moved into placement=Placement(...) (reap_omni.model.placement); "
                  "the old spelling goes in the next release", DeprecationWarning, stacklevel=3)
