"""What earlier runs wrote: the only existing outputs that ``prune`` (with ``--overwrite``) or a rerun replaces.

The recognisers read a few bytes each (a JSON ``format`` field, a safetensors header), so the output guard
can tell a previous reap-omni output from the user's own files before anything heavy runs.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from reap_omni.output_guard import Output, OutputRefused, resolve_path, written_file
from reap_omni.prune.scores import LEGACY_SCORES_FILE, SCORES_FORMAT, scores_in_folder, tensor_path_for

_MAX_HEADER = 100 * 1024 * 1024


def is_scores_json(path: Path) -> bool:
    """A scores JSON written by ``save_scores`` (its ``format`` field)."""
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == SCORES_FORMAT


def is_scores_tensors(path: Path) -> bool:
    """A scores tensor file written by ``save_scores`` (its safetensors header's metadata)."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > _MAX_HEADER:
                return False
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return False
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return isinstance(meta, dict) and meta.get("format") == SCORES_FORMAT


def is_pruned_output(folder: Path) -> bool:
    """A checkpoint ``prune`` wrote: a ``config.json`` beside its scores (``reap_omni/scores.json``, or the
    older layout's ``reap_omni_scores.json``)."""
    return (folder / "config.json").is_file() and any(
        is_scores_json(p) for p in (scores_in_folder(folder), folder / LEGACY_SCORES_FILE))


def scores_outputs(path: str, flag: str = "--scores-out") -> list[Output]:
    """The three files a scores output writes (JSON, ``.safetensors``, ``.png``), each replaceable only when
    an earlier run wrote it (the heatmap: when the JSON beside it is a previous scores file)."""
    json_path = Path(path)
    if os.fspath(path).endswith(("/", os.sep)):  # Path() drops the slash: 'new/' would write a file 'new'
        raise OutputRefused(f"{flag} {path} ends in '/', a folder; give a file path, e.g. {path}scores.json")
    if json_path.name in ("", ".", ".."):  # '.', '..', '/': a folder, refused by the guard; named first
        json_path = resolve_path(path, flag)
    if not json_path.name:
        raise OutputRefused(f"{flag} {path} is a folder; give a file path")
    if json_path.suffix in (".safetensors", ".png"):
        raise OutputRefused(f"{flag} {path} ends in {json_path.suffix}, the name of one of the files written "
                            "beside it; give a .json path")
    return [written_file(json_path, flag, is_scores_json),
            written_file(tensor_path_for(json_path), flag, is_scores_tensors),
            written_file(json_path.with_suffix(".png"), flag, lambda _p: is_scores_json(json_path))]


def scores_inputs(flag: str, path: str | None) -> list[tuple[str, Path]]:
    """A scores input as the guard protects it: a folder whole, a file with its JSON and tensor siblings
    (``load_scores`` reads both)."""
    if not path:
        return []
    p = Path(path)
    if p.is_dir():  # a pruned folder, protected whole; one without scores is no input (its own check says so)
        has = any(c.is_file() for c in (scores_in_folder(p), p / LEGACY_SCORES_FILE))
        return [(flag, p)] if has else []
    if p.name in ("", ".", ".."):
        return []
    return [(flag, p), (flag, p.with_suffix(".json")), (flag, tensor_path_for(p))]
