"""Checkpoint surgery: write a pruned copy of a safetensors checkpoint, one shard at a time.

Per MoE layer of the pruned component: experts not kept are dropped, kept experts are renumbered
0..K-1 in ascending old-id order, the router's rows (and fused expert slabs, if the checkpoint was saved
fused) are sliced in the same order, and the nested config's ``num_experts`` becomes K. Every other
tensor, including the talker's when pruning the thinker, is copied byte for byte. The new checkpoint is
built in a temp folder beside the destination and renamed into place only when complete.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reap_omni.errors import ReapOmniError
from reap_omni.fileio import commit_folder, storage_errors
from reap_omni.model.info import ModelInfo, component_text_config
from reap_omni.model.preflight import INDEX_NAME, SINGLE_NAME, check_model, moe_key_re
from reap_omni.model.st_stream import Piece, TensorInfo, read_header, write_shard
from reap_omni.output_guard import Output, check_state, guard_outputs, replaced_folder
from reap_omni.prune.previous import is_pruned_output


@dataclass
class SurgeryReport:
    output: Path
    num_experts: int
    kept_per_layer: int
    shards: int
    tensors_written: int
    tensors_dropped: int
    bytes_in: int
    bytes_out: int
    largest_shard_bytes: int


def plan_shard(
    shard: Path, key_re: re.Pattern[str], kept: Mapping[int, Sequence[int]], num_experts: int
) -> tuple[list[Piece], int, dict[int, set[str]]]:
    """Output pieces of one input shard, the number of dropped tensors, and per-layer MoE keys seen."""
    infos, _meta = read_header(shard)
    pieces: list[Piece] = []
    dropped = 0
    seen: dict[int, set[str]] = {}
    for name, info in infos.items():
        m = key_re.match(name)
        if m is None:
            pieces.append(Piece(name, shard, info))
            continue
        layer = int(m.group("layer"))
        if layer not in kept:
            raise ReapOmniError(f"{shard.name}: MoE layer {layer} ({name}) has no expert selection in the scores")
        ids = list(kept[layer])
        seen.setdefault(layer, set()).add(name)
        if m.group("expert") is not None:
            old = int(m.group("expert"))
            if old >= num_experts:
                raise ReapOmniError(f"{name}: expert id {old} >= num_experts {num_experts} in config.json")
            if old in ids:
                new_name = f"{m.group('head')}experts.{ids.index(old)}.{m.group('rest')}"
                pieces.append(Piece(new_name, shard, info))
            else:
                dropped += 1
            continue
        _check_rows(name, info, num_experts)
        pieces.append(Piece(name, shard, info, rows=ids))
    return pieces, dropped, seen


def _check_rows(name: str, info: TensorInfo, num_experts: int) -> None:
    if not info.shape or info.shape[0] != num_experts:
        raise ReapOmniError(f"{name} has shape {list(info.shape)}, expected {num_experts} rows (one per expert)")


def _check_layers(seen: dict[int, set[str]], kept: Mapping[int, Sequence[int]], num_experts: int, k: int) -> None:
    missing = sorted(set(kept) - set(seen))
    if missing:
        raise ReapOmniError(f"the checkpoint has no MoE weights for layer(s) {missing} named in the scores")
    for layer, names in seen.items():
        if not any(n.endswith("gate.weight") for n in names):
            raise ReapOmniError(f"MoE layer {layer} has no router weight (mlp.gate.weight) in the checkpoint")
        if len(kept[layer]) != k:
            raise ReapOmniError(f"layer {layer} keeps {len(kept[layer])} experts, others keep {k}")


def output_bytes(info: ModelInfo, k: int) -> int:
    """About the bytes the pruned checkpoint of ``info`` (``check_model``'s, headers read) keeping ``k`` experts per
    layer takes: its tensors (experts dropped, routers sliced) and the files copied beside them."""
    key_re = moe_key_re(info.prefix)
    total = 0
    for infos in info.headers.values():
        for name, t in infos.items():
            m = key_re.match(name)
            size = t.end - t.start
            total += size if m is None else size * k // info.num_experts
    return total + sum(f.stat().st_size for f in info.path.iterdir()
                       if f.is_file() and not f.name.endswith(".safetensors"))


def _temp_dir_for(out: Path) -> Path:
    return out.with_name(f".{out.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")


def prune_checkpoint(
    model_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    component: str,
    kept: Mapping[int, Sequence[int]],
    *,
    overwrite: bool = False,
    add_files: Callable[[Path], None] | None = None,
    info: ModelInfo | None = None,
) -> SurgeryReport:
    """Write the pruned checkpoint of ``model_dir`` to ``output_dir`` (atomically, shard by shard).

    ``kept`` maps each MoE layer index to its kept old expert ids (any order; sorted here).
    ``add_files(tmp_dir)`` may write extra files (scores, plots) into the folder before it is committed.
    ``info`` is ``check_model(model_dir, component)``'s result when the caller has it (checked again otherwise).
    """
    src, out = Path(model_dir), Path(output_dir)
    if info is None or info.path != src or info.component != component or not info.shards:
        info = check_model(src, component)  # every shard header and the MoE shapes, before anything is written
    num_experts = info.num_experts
    kept = {int(layer): sorted(int(e) for e in ids) for layer, ids in kept.items()}
    for layer, ids in kept.items():
        if len(set(ids)) != len(ids) or not all(0 <= e < num_experts for e in ids):
            raise ReapOmniError(f"layer {layer}: the kept expert ids {ids} are not distinct ids below {num_experts}")
    k = len(next(iter(kept.values())))
    target = replaced_folder(output_dir, "--output-path", is_pruned_output)
    (out,) = guard_outputs([target], model_dirs=[("--model-path", src)], overwrite=overwrite, clean=False)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReapOmniError(f"cannot create {out.parent}: {exc.strerror or exc}") from None
    shards = info.shards
    key_re = moe_key_re(info.prefix)

    plans, seen_all, dropped = [], {}, 0
    for s in shards:
        pieces, n_drop, seen = plan_shard(src / s, key_re, kept, num_experts)
        plans.append(pieces)
        dropped += n_drop
        for layer, names in seen.items():
            seen_all.setdefault(layer, set()).update(names)
    _check_layers(seen_all, kept, num_experts, k)

    tmp = _temp_dir_for(out)
    with storage_errors(out):  # disk full, read-only: one line naming the output, not the temp folder
        tmp.mkdir()
    try:
        with storage_errors(out):
            report = _write(src, tmp, plans, shards, info, k, dropped, add_files)
        _commit(tmp, out, target, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.output = Path(output_dir)
    return report


def _write(src, tmp, plans, shards, info: ModelInfo, k, dropped, add_files) -> SurgeryReport:
    non_empty = [p for p in plans if p]
    n = len(non_empty)
    weight_map: dict[str, str] = {}
    total = largest = written = 0
    for i, pieces in enumerate(non_empty, start=1):
        name = SINGLE_NAME if len(shards) == 1 else f"model-{i:05d}-of-{n:05d}.safetensors"
        size = write_shard(tmp / name, pieces)
        total += size
        largest = max(largest, size)
        written += len(pieces)
        weight_map.update((p.name, name) for p in pieces)
    if len(shards) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        (tmp / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
    cfg = copy.deepcopy(info.config)  # the model's description stays as read
    component_text_config(cfg, info.component)[info.experts_key] = k
    old_experts = info.num_experts
    (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    bytes_in = sum((src / s).stat().st_size for s in shards)
    for f in sorted(src.iterdir()):
        # weights are rewritten above; a source that is itself a pruned folder keeps its scores in reap_omni/
        # (a folder, not copied) or, in the older layout, in reap_omni_scores.* files: those describe the
        # source's selection, not this one, so they are not copied either
        if f.name.endswith(".safetensors") or f.name.startswith((".", "reap_omni_scores.")):
            continue
        if f.is_file() and f.name not in (INDEX_NAME, "config.json"):
            shutil.copy2(f, tmp / f.name)
    if add_files is not None:
        add_files(tmp)
    return SurgeryReport(tmp, old_experts, k, n, written, dropped, bytes_in, total, largest)


def _commit(tmp: Path, out: Path, target: Output, overwrite: bool) -> None:
    """Swap the finished temp folder in (``fileio.commit_folder``), after checking again what is at ``out``:
    it may have appeared while the shards were written."""
    check_state(target, out, overwrite)
    commit_folder(tmp, out)
