"""The modules that moved into model/, evaluate/ and report/ keep their old import paths for one release:
each old name warns and is the new module object (or, for a module split in several, gives every name it
had, as the same objects)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reap_omni.moved import MOVED

#: the public names of the modules that were split, as they were before the move
SPLIT_NAMES = {
    "reap_omni.prune.model_io": (
        "COMPONENTS", "SUPPORTED_MODEL_TYPES", "read_config", "component_text_config", "moe_layers_from_config",
        "text_config_hash", "MEDIA_TOKEN_KEYS", "media_token_ids", "experts_key", "checkpoint_prefix",
        "torch_dtype", "load_kwargs", "load_for_scoring", "execution_device", "MoeBlock", "find_moe_blocks"),
    "reap_omni.prune.placement": (
        "STRATEGIES", "parse_size", "parse_max_memory", "parse_device_map", "device_label", "MemoryPlan",
        "empty_model", "plan_placement"),
    "reap_omni.prune.preflight": (
        "INDEX_NAME", "SINGLE_NAME", "ModelFacts", "moe_key_re", "list_shards", "check_model", "check_numbers",
        "check_scores", "check_pruned"),
    "reap_omni.prune.evaluate": (
        "METHODS", "ORIGINAL", "PRUNED", "NEEDS_SCORES", "DEFAULT_ASR_PROMPT", "EVAL_FORMAT", "EvalOptions",
        "EvalRow", "selections", "kept_overlap", "load_rows", "check_held_out", "reduce_accumulators", "run_eval",
        "checkpoints"),
}


def _import_new(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:  # the model side without the [prune] extra
        if exc.name in ("torch", "transformers", "safetensors"):
            pytest.skip(f"{name} needs the [prune] extra")
        raise


def _fresh(monkeypatch, old: str) -> None:
    """Forget an earlier import of ``old``, so that this test imports it (and warns) again."""
    monkeypatch.delitem(sys.modules, old, raising=False)
    parent, _, child = old.rpartition(".")
    monkeypatch.delattr(importlib.import_module(parent), child, raising=False)


@pytest.mark.parametrize("old", sorted(k for k, v in MOVED.items() if isinstance(v, str)))
def test_an_old_module_path_is_the_new_module_and_warns(old, monkeypatch):
    new = _import_new(MOVED[old])
    _fresh(monkeypatch, old)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}"):
        got = importlib.import_module(old)
    assert got is new and sys.modules[old] is new
    assert got.__spec__.name == new.__name__  # the new module's own spec, not the alias's


@pytest.mark.parametrize("old", sorted(SPLIT_NAMES))
def test_a_split_module_gives_every_name_it_had(old, monkeypatch):
    targets = [_import_new(n) for n in MOVED[old]]
    _fresh(monkeypatch, old)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to"):
        got = importlib.import_module(old)
    for name in SPLIT_NAMES[old]:
        owner = next((m for m in targets if hasattr(m, name)), None)
        assert owner is not None, f"{old}.{name} is in none of {MOVED[old]}"
        assert getattr(got, name) is getattr(owner, name), name
    assert set(SPLIT_NAMES[old]) <= set(dir(got))
    with pytest.raises(AttributeError, match="moved to"):
        got.no_such_name  # noqa: B018


def test_old_paths_never_shadow_a_module_that_exists():
    """Every new module exists, and no old name is a real file any more (a real file would win)."""
    for old, new in MOVED.items():
        for target in (new,) if isinstance(new, str) else new:
            assert importlib.util.find_spec(target) is not None, target
        parent, _, child = old.rpartition(".")
        spec = importlib.util.find_spec(parent)
        assert not any((Path(p) / f"{child}.py").exists() for p in spec.submodule_search_locations), old


def test_the_options_classes_accept_the_old_placement_keywords():
    """``PruneOptions(device=...)`` and ``opts.dtype`` keep working for one release, folded into ``placement``."""
    from reap_omni.model.placement import Placement, placement_keywords

    @placement_keywords
    @dataclass
    class Opts:
        model_path: str
        placement: Placement = field(default_factory=Placement)

    with pytest.warns(DeprecationWarning, match="device, dtype moved into placement"):
        o = Opts("m", device="cuda:1", dtype="bfloat16")
    assert o.placement == Placement(device="cuda:1", dtype="bfloat16")
    with pytest.warns(DeprecationWarning):
        assert o.dtype == "bfloat16"
    with pytest.warns(DeprecationWarning):
        o.offload_folder = "off"
    assert o.placement.offload_folder == "off" and o.placement.device == "cuda:1"
    assert Opts("m").placement == Placement()
