"""Resumable calibration: per-stratum partial statistics checkpointed atomically while the model runs.

Each rank keeps one file, ``rank{r}-of-{N}.safetensors``, in the checkpoint folder (beside the scores
output: ``<output>.calibration/`` or ``<scores stem>.calibration/``). It holds, per stratum, this rank's
float64 sums, int64 counts and token totals so far, plus (in the metadata) the ids of the samples already
run and whether the stratum is complete. It is rewritten every ``--checkpoint-every`` batches through a
temp file and a rename, so a crash or ``kill -9`` leaves the previous complete file.

A rerun of the same command finds the file, checks its key (a hash of the model's config, every sample's
id, text and media file, the options that change the statistics, the rank and world size), restores the
accumulators exactly and continues after the last checkpointed batch: batches are consecutive chunks of
the rank's shard, so the remaining batches, and the float64 additions, are the uninterrupted run's. A file
whose key differs (a run with other inputs) is ignored, then replaced as calibration starts over.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reap_omni.errors import ReapOmniError
from reap_omni.fileio import remove_stale_temps, temp_path_for

STATE_FORMAT = "reap-omni-calibration-state/1"


@dataclass
class StratumState:
    """One stratum's progress on one rank: its partial statistics and the ids already run, in order."""

    sums: Any  # torch [L, E] float64
    counts: Any  # torch [L, E] int64
    tokens: Any  # torch [L] int64
    done: list[str] = field(default_factory=list)
    complete: bool = False


def _file_fingerprint(path) -> list[Any]:
    if path is None:
        return [None]
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return [str(p), None]
    return [str(p.resolve()), st.st_size, st.st_mtime_ns]


def calibration_key(model_path: str | os.PathLike[str], samples: dict[str, list], options: dict[str, Any],
                    rank: int, world_size: int) -> str:
    """What a checkpoint must have been computed from to be resumed: hex sha256."""
    h = hashlib.sha256()
    h.update(STATE_FORMAT.encode())
    with contextlib.suppress(OSError):
        h.update(Path(model_path, "config.json").read_bytes())
    doc = {
        "options": options, "rank": rank, "world_size": world_size,
        "samples": {name: [[s.id, s.text, _file_fingerprint(s.audio), _file_fingerprint(s.video)]
                           + ([s.question] if getattr(s, "question", "") else []) for s in rows]  # S0: its instruction
                    for name, rows in samples.items()},
    }
    h.update(json.dumps(doc, sort_keys=True, default=str).encode())
    return h.hexdigest()


class CalibrationCheckpoint:
    """This rank's checkpoint file in ``folder``."""

    def __init__(self, folder: str | os.PathLike[str], key: str, rank: int = 0, world_size: int = 1):
        self.folder = Path(folder)
        self.key = key
        self.path = self.folder / f"rank{rank}-of-{world_size}.safetensors"
        self.stale = False  # set by load(): a file was there, for other inputs

    def load(self) -> dict[str, StratumState] | None:
        """The saved states, or None when there is no file or it belongs to other inputs."""
        from safetensors import SafetensorError, safe_open

        if not self.path.is_file():
            return None
        try:
            with safe_open(str(self.path), framework="pt") as f:
                meta = f.metadata() or {}
                if meta.get("format") != STATE_FORMAT or meta.get("key") != self.key:
                    self.stale = True
                    return None
                progress = json.loads(meta.get("progress", "{}"))
                states = {}
                for name, p in progress.items():
                    states[name] = StratumState(f.get_tensor(f"{name}.sums"), f.get_tensor(f"{name}.counts"),
                                                f.get_tensor(f"{name}.tokens"), list(p["done"]), bool(p["complete"]))
        except (OSError, SafetensorError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            self.stale = True  # unreadable: as good as absent (a rerun recomputes)
            return None
        return states

    def save(self, states: dict[str, StratumState]) -> None:
        from safetensors.torch import save as st_save

        tensors = {}
        progress = {}
        for name, st in states.items():
            tensors[f"{name}.sums"] = st.sums.detach().cpu().contiguous()
            tensors[f"{name}.counts"] = st.counts.detach().cpu().contiguous()
            tensors[f"{name}.tokens"] = st.tokens.detach().cpu().contiguous()
            progress[name] = {"done": st.done, "complete": st.complete}
        meta = {"format": STATE_FORMAT, "key": self.key, "progress": json.dumps(progress)}
        try:
            _replace_bytes(self.path, st_save(tensors, metadata=meta))
        except OSError as exc:
            raise ReapOmniError(f"cannot write the calibration checkpoint {self.path}: {exc.strerror or exc}") from None

    def remove(self) -> None:
        """Delete this rank's file (the run completed), and the folder once it is empty."""
        with contextlib.suppress(OSError):
            self.path.unlink()
        remove_stale_temps(self.folder)  # a run killed while writing leaves its temp file
        with contextlib.suppress(OSError):
            self.folder.rmdir()


def _replace_bytes(path: Path, data: bytes) -> None:
    """Write a temp file beside ``path`` and rename it over ``path``: a killed process leaves the previous
    file whole. No fsync (it cost more than a tiny model's batches): after an OS crash the file may be
    unreadable, which ``load`` treats as absent, so the statistics are recomputed rather than wrong."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
