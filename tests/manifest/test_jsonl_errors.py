"""Invalid UTF-8 is reported the same way whatever the installed msgspec raises for it."""

from pathlib import Path

import msgspec
import pytest

from reap_omni.errors import InputError
from reap_omni.manifest.jsonl import decode_json_line, json_error_message
from reap_omni.manifest.lock import read_lock
from reap_omni.manifest.record import decode_record


@pytest.mark.parametrize(
    "exc",
    [msgspec.DecodeError("Invalid UTF-8 encoded string"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")],
)
def test_both_msgspec_generations_give_the_same_message(exc: Exception) -> None:
    assert json_error_message(exc, b'{"a": "x\xff"}') == "invalid UTF-8 at byte 8"


def test_malformed_json_that_is_valid_utf8_keeps_the_json_message() -> None:
    assert json_error_message(msgspec.DecodeError("truncated"), b'{"a": ').startswith("malformed JSON: truncated")


def test_installed_msgspec_invalid_utf8_paths(tmp_path: Path) -> None:
    line = b'{"id": "a", "modality": "text", "text": "\xfe"}'
    with pytest.raises(InputError, match=r"m\.jsonl:3: invalid UTF-8 at byte 41$"):
        decode_json_line(line, tmp_path / "m.jsonl", 3)
    with pytest.raises(InputError, match=r"m\.jsonl:4: invalid UTF-8 at byte 41$"):
        decode_record(line, tmp_path / "m.jsonl", 4)
    lock = tmp_path / "lock.json"
    lock.write_bytes(b'{"version": 1, "tool": "\xff"}')
    with pytest.raises(InputError, match=r"lock\.json: lock file: invalid UTF-8 at byte 24$"):
        read_lock(lock)

