"""LLaMA-Factory's ``dataset_info.json``: the entry for a file we write, and reading/merging the file.

Shared by the exporter (``convert.llamafactory``) and its validator (``convert.validate_llamafactory``),
so neither imports the other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from reap_omni.errors import InputError
from reap_omni.fileio import atomic_write_bytes
from reap_omni.manifest.jsonl import JSON_ERRORS, json_error_message

#: LLaMA-Factory's default sharegpt tags (``DatasetAttr``); we write them explicitly anyway.
DEFAULT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
MEDIA_COLUMNS = ("images", "videos", "audios")



def dataset_entry(file_name: str, media_columns: set[str], system: bool) -> dict[str, Any]:
    """The ``dataset_info.json`` entry for a file we wrote: every column and tag it uses, nothing more."""
    columns = {"messages": "conversations"}
    columns.update({c: c for c in MEDIA_COLUMNS if c in media_columns})
    tags = {k: DEFAULT_TAGS[k] for k in ("role_tag", "content_tag", "user_tag", "assistant_tag")}
    if system:
        tags["system_tag"] = DEFAULT_TAGS["system_tag"]
    return {"file_name": file_name, "formatting": "sharegpt", "columns": columns, "tags": tags}


def read_dataset_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load ``dataset_info.json`` (``{}`` when absent); a malformed file is an ``InputError``, never overwritten."""
    p = Path(path)
    if not p.exists():
        return {}
    try:
        raw = p.read_bytes()
        data = msgspec.json.decode(raw)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", p) from None
    except JSON_ERRORS as exc:
        raise InputError(json_error_message(exc, raw), p) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object of dataset entries", p)
    return data


def register_dataset(info_path: str | os.PathLike[str], name: str, entry: dict[str, Any]) -> None:
    """Add or replace entry ``name`` in ``dataset_info.json`` atomically, keeping the other entries."""
    data = read_dataset_info(info_path)
    data[name] = entry
    atomic_write_bytes(info_path, msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n")
