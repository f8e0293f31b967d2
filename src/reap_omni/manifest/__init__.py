"""The unified manifest: typed records, streaming JSONL I/O, validation, lock file and stats."""

from reap_omni.manifest.jsonl import JsonlWriter, iter_json_objects, read_jsonl_lines
from reap_omni.manifest.record import MODALITIES, Record, RowErrors, iter_records, record_problems

__all__ = [
    "MODALITIES",
    "JsonlWriter",
    "Record",
    "RowErrors",
    "iter_json_objects",
    "iter_records",
    "read_jsonl_lines",
    "record_problems",
]
