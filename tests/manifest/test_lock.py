import json

import pytest

from reap_omni.errors import InputError
from reap_omni.manifest.lock import build_lock, file_sha256, lock_row, read_lock, write_lock


def row(rid, ds, key, **src):
    return {
        "id": rid, "modality": "audio", "audio": f"/data/{rid}.wav",
        "source": {"dataset": ds, "key": key, "unit": "p|f0#rg1", "source_id": "hf_parquet:o/r::",
                   "kind": "hf_parquet", "repo": "o/r", "revision": "a" * 40, "file": "f0.parquet", "row": 7,
                   "original_id": "utt7", **src},
        "meta": {"sha256": {"audio": "b" * 64}},
    }


def test_lock_rows_keep_provenance_licence_and_hashes():
    e = lock_row(row("ls_1", "ls", "p|k1"), "CC-BY-4.0")
    assert e.dataset == "ls" and e.key == "p|k1" and e.unit == "p|f0#rg1" and e.licence == "CC-BY-4.0"
    assert e.source == {"kind": "hf_parquet", "repo": "o/r", "revision": "a" * 40, "file": "f0.parquet", "row": 7}
    assert e.media["audio"].sha256 == "b" * 64
    assert lock_row({"id": "x", "modality": "audio", "audio": "/a.wav"}, None) is None  # not from a build


def test_write_read_roundtrip_sorted_by_dataset_and_id(tmp_path):
    lock = build_lock(
        [row("ls_2", "ls", "p|k2"), row("gs_1", "gs", "p|k1"), row("ls_1", "ls", "p|k1")],
        options={"seed": 3, "media": {"audio_format": "wav"}},
        datasets={"ls": {"requested": 2}},
        licence_of={"ls": "CC-BY-4.0", "gs": "Apache-2.0"}.get,
    )
    path = tmp_path / "manifest.lock.json"
    write_lock(path, lock)
    back = read_lock(path)
    assert [r.id for r in back.rows] == ["gs_1", "ls_1", "ls_2"]
    assert back.options["seed"] == 3 and back.rows[0].licence == "Apache-2.0"
    assert set(back.dataset_rows()) == {"gs", "ls"}
    assert "token" not in path.read_text().lower()


def test_read_lock_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="lock file not found"):
        read_lock(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="malformed JSON"):
        read_lock(bad)
    bad.write_text(json.dumps({"rows": [{"id": 1}]}))
    with pytest.raises(InputError, match="not a reap-omni lock file"):
        read_lock(bad)
    bad.write_text(json.dumps({"version": 99}))
    with pytest.raises(InputError, match="newer"):
        read_lock(bad)


def test_file_sha256(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"abc")
    assert file_sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
