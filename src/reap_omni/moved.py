"""Old import paths of the modules that moved into ``model/``, ``evaluate/`` and ``report/`` (issue 18).

One mechanism instead of a shim file per module: ``reap_omni.prune`` and ``reap_omni.calibration_set``
install ``MovedFinder`` from their ``__init__``, and ``import reap_omni.prune.model_io`` (any old name in
``MOVED``) warns with a ``DeprecationWarning`` and gets the new module object itself; a module that was split
in several (``MOVED`` value: a tuple) gets a module that looks each name up in the new ones. The old paths
work for one release; ``tests/test_moved.py`` keeps every one of them importing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

#: old dotted name -> new module, or the new modules its names went to (searched in order)
MOVED: dict[str, str | tuple[str, ...]] = {
    "reap_omni.prune.model_io": ("reap_omni.model.info", "reap_omni.model.load", "reap_omni.model.moe",
                                 "reap_omni.model.placement"),
    "reap_omni.prune.placement": ("reap_omni.model.placement", "reap_omni.model.memory_plan"),
    "reap_omni.prune.preflight": ("reap_omni.model.preflight", "reap_omni.prune.checks"),
    "reap_omni.prune.distributed": "reap_omni.model.distributed",
    "reap_omni.prune.st_stream": "reap_omni.model.st_stream",
    "reap_omni.prune.inputs": "reap_omni.model.inputs",
    "reap_omni.prune.media_load": "reap_omni.model.media_load",
    "reap_omni.prune.media_window": "reap_omni.model.media_window",
    "reap_omni.prune.audio_per_clip": "reap_omni.model.audio_per_clip",
    "reap_omni.prune.tiny": "reap_omni.model.tiny",
    "reap_omni.prune.evaluate": ("reap_omni.evaluate.options", "reap_omni.evaluate.rows",
                                 "reap_omni.evaluate.selections", "reap_omni.evaluate.accumulate",
                                 "reap_omni.evaluate.pipeline"),
    "reap_omni.prune.eval_metrics": "reap_omni.evaluate.metrics",
    "reap_omni.prune.eval_report": "reap_omni.evaluate.report",
    "reap_omni.prune.eval_recovery": "reap_omni.evaluate.recovery",
    "reap_omni.prune.heldout": "reap_omni.evaluate.heldout",
    "reap_omni.prune.router_mask": "reap_omni.evaluate.router_mask",
    "reap_omni.prune.encoder_replay": "reap_omni.evaluate.encoder_replay",
    "reap_omni.calibration_set.report": "reap_omni.report.write",
    "reap_omni.calibration_set.report_summary": "reap_omni.report.summary",
    "reap_omni.calibration_set.report_media": "reap_omni.report.media",
    "reap_omni.calibration_set.report_markdown": "reap_omni.report.markdown",
    "reap_omni.calibration_set.report_plots": "reap_omni.report.plots",
}


def _warn(old: str, new: str | tuple[str, ...]) -> None:
    where = new if isinstance(new, str) else " / ".join(new)
    warnings.warn(f"{old} moved to {where}; the old import path goes in the next release", DeprecationWarning,
                  stacklevel=3)  # the importing line (importlib's own frames are skipped)


class _AliasLoader(importlib.abc.Loader):
    """Loads an old name as the new module object itself (``sys.modules`` holds it under both names)."""

    def __init__(self, new: str):
        self.new = new
        self._spec: Any = None

    def create_module(self, spec):
        module = importlib.import_module(self.new)
        self._spec = module.__spec__  # the import system sets __spec__ to the alias's; put the real one back
        return module

    def exec_module(self, module) -> None:
        module.__spec__ = self._spec


class _SplitLoader(importlib.abc.Loader):
    """Loads an old name as a module whose attributes are looked up in the modules its names went to."""

    def __init__(self, new: tuple[str, ...]):
        self.new = new

    def exec_module(self, module) -> None:
        new = self.new

        def __getattr__(name: str):
            for target in new:
                mod = importlib.import_module(target)
                if hasattr(mod, name):
                    return getattr(mod, name)
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r} (it moved to "
                                 f"{' / '.join(new)})")

        def __dir__() -> list[str]:
            return sorted({n for target in new for n in dir(importlib.import_module(target))})

        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        module.__dir__ = __dir__  # type: ignore[method-assign]
        module.__doc__ = f"Moved to {', '.join(new)} (old import path, kept for one release)."


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old names of ``MOVED`` (after every other finder found nothing: a real file always wins)."""

    def find_spec(self, fullname: str, path: Any = None, target: types.ModuleType | None = None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        _warn(fullname, new)
        loader = _AliasLoader(new) if isinstance(new, str) else _SplitLoader(new)
        return importlib.machinery.ModuleSpec(fullname, loader)


def install() -> None:
    """Put one ``MovedFinder`` at the end of ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder())
