import json
import os

from reap_omni.calibration_set.resume import prepare_output, row_id


def write_rows(path, rows, tail=b""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + tail)


def row(out, ds, n, key, unit="p|u0"):
    rid = row_id(ds, key)
    media = out / ds / f"{rid}.wav"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(b"RIFF" + bytes(n))
    return {"id": rid, "modality": "audio", "audio": str(media), "duration": 1.5,
            "source": {"dataset": ds, "key": key, "unit": unit}}


def test_row_ids_are_stable_and_distinct():
    assert row_id("ls", "p|a") == row_id("ls", "p|a")
    assert row_id("ls", "p|a") != row_id("ls", "p|b")
    assert row_id("ls", "p|a").startswith("ls_") and len(row_id("ls", "p|a")) == len("ls_") + 16


def test_prepare_output_counts_done_rows_and_cleans_leftovers(tmp_path):
    out = tmp_path
    manifest = out / "calibration" / "audio.jsonl"
    good = [row(out, "ls", 10, f"p|k{i}") for i in range(3)]
    gone = row(out, "ls", 10, "p|gone")
    os.unlink(gone["audio"])
    other = {"id": "x1", "modality": "audio", "audio": "/nowhere/x.wav", "source": {"dataset": "other"}}
    write_rows(manifest, [*good, gone, other], tail=b'{"id": "torn')
    orphan = out / "ls" / f"{row_id('ls', 'p|orphan')}.wav"
    orphan.write_bytes(b"data")
    user_file = out / "ls" / "notes.txt"
    user_file.write_text("mine")
    stale = out / "ls" / f".{row_id('ls', 'p|k9')}.wav.tmp-999999999-abcd"
    stale.write_bytes(b"partial")

    report = prepare_output(out, ["ls"])
    p = report.datasets["ls"]
    assert p.rows == 3 and p.keys == {"p|k0", "p|k1", "p|k2"} and p.by_unit["p|u0"] == 3
    assert abs(p.hours - 4.5 / 3600) < 1e-9
    assert report.torn_lines == 1 and report.dropped_rows == 1 and report.orphan_media == 1 and report.stale_temps == 1
    kept = [json.loads(line)["id"] for line in manifest.read_text().splitlines()]
    assert kept == [r["id"] for r in good] + ["x1"]  # other datasets' rows are never touched
    assert not orphan.exists() and not stale.exists() and user_file.exists()


def test_overwrite_removes_only_the_requested_datasets(tmp_path):
    out = tmp_path
    manifest = out / "calibration" / "audio.jsonl"
    a = [row(out, "ls", 10, f"p|k{i}") for i in range(2)]
    b = [row(out, "gs", 10, f"p|k{i}") for i in range(2)]
    write_rows(manifest, a + b)
    report = prepare_output(out, ["ls"], overwrite=True)
    assert report.datasets.get("ls") is None or report.datasets["ls"].rows == 0
    assert [json.loads(line)["id"] for line in manifest.read_text().splitlines()] == [r["id"] for r in b]
    assert not (out / "ls").exists() and all(os.path.exists(r["audio"]) for r in b)
