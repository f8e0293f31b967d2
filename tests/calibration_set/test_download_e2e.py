"""``download`` end to end: the real catalog entry, the real sources and the loopback fixture Hub."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from reap_omni.catalog.registry import get_dataset
from reap_omni.cli import run
from reap_omni.fixtures.repos import add_spec_fixture
from reap_omni.manifest.lock import read_lock
from reap_omni.manifest.record import iter_records
from reap_omni.media.probe import probe

REPO = Path(__file__).resolve().parents[2]


def fixture(server, spec, **kwargs):
    """``add_spec_fixture``'s record of what it built (it may also return the spec with fixture URLs)."""
    built = add_spec_fixture(server, spec, **kwargs)
    return built[0] if isinstance(built, tuple) else built


def librispeech_hub(server, shards=8, rows_per_shard=9, row_group_size=3):
    spec = get_dataset("librispeech").sources[0]
    return fixture(server, spec, shards=shards, rows_per_shard=rows_per_shard, row_group_size=row_group_size)


def records(out: Path, stratum="audio"):
    return [r for _, r in iter_records(out / "calibration" / f"{stratum}.jsonl")]


def test_download_spreads_over_shards_and_rebuilds_from_lock(hub_server, tmp_path, capsys):
    librispeech_hub(hub_server)
    out = tmp_path / "data"
    code = run(["download", "--dataset", "librispeech", "--output", str(out), "--samples", "16", "--quiet"])
    assert code == 0
    recs = records(out)
    assert len(recs) == 16 and len({r.id for r in recs}) == 16
    assert len({r.source["file"] for r in recs}) == 8  # every shard contributes, not just the first file
    assert all(probe(r.audio).sample_rate == 16000 and r.duration > 0 for r in recs)
    table = capsys.readouterr().out
    assert "librispeech" in table and "16/16" in table
    stats = json.loads((out / "calibration" / "stats.json").read_text())["datasets"]["librispeech"]
    assert 0 < stats["bytes_downloaded"] <= hub_server.total_bytes

    served = hub_server.total_bytes
    out2 = tmp_path / "again"
    code = run(["download", "--from-lock", str(out / "calibration" / "manifest.lock.json"), "--output", str(out2),
                "--quiet"])
    assert code == 0
    assert sorted(r.id for r in records(out2)) == sorted(r.id for r in recs)
    lock1 = read_lock(out / "calibration" / "manifest.lock.json")
    lock2 = read_lock(out2 / "calibration" / "manifest.lock.json")
    assert [(r.id, r.source, r.media["audio"].sha256) for r in lock1.rows] == [
        (r.id, r.source, r.media["audio"].sha256) for r in lock2.rows
    ]
    assert hub_server.total_bytes > served


def test_spread_option_trades_diversity_for_bytes(hub_server, tmp_path):
    librispeech_hub(hub_server)
    run(["download", "-d", "librispeech", "-o", str(tmp_path / "wide"), "-n", "6", "--spread", "6", "--quiet"])
    wide = hub_server.total_bytes
    hub_server.reset_counters()
    # two row groups of 3 rows hold the 6 rows: two units from at most two files
    run(["download", "-d", "librispeech", "-o", str(tmp_path / "narrow"), "-n", "6", "--spread", "2", "--quiet"])
    narrow = hub_server.total_bytes
    assert len({r.source["file"] for r in records(tmp_path / "narrow")}) <= 2
    assert len({r.source["file"] for r in records(tmp_path / "wide")}) > 2
    assert narrow < wide


def test_gated_and_missing_datasets_fail_clearly_while_others_continue(hub_server, tmp_path, capsys):
    librispeech_hub(hub_server, shards=2)
    fx = fixture(hub_server, get_dataset("covost2").sources[0], shards=2, rows_per_shard=6)
    hub_server.repos[fx.repo].gated = True
    out = tmp_path / "data"
    code = run(["download", "-d", "librispeech", "covost2", "msrvtt", "-o", str(out), "-n", "4", "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert len(records(out)) == 4 and not (out / "calibration" / "video.jsonl").exists()
    assert "covost2: 0/4 rows" in err and "msrvtt: 0/4 rows" in err and "Traceback" not in err
    covost_line = next(line for line in err.splitlines() if "covost2:" in line)
    assert "HF_TOKEN" in covost_line or "token" in covost_line.lower()
    stats = json.loads((out / "calibration" / "stats.json").read_text())
    assert stats["datasets"]["covost2"]["status"] == "failed" and stats["datasets"]["librispeech"]["status"] == "ok"
    assert stats["totals"]["failed_datasets"] == ["covost2", "msrvtt"]


def test_source_option_points_a_source_elsewhere(hub_server, tmp_path):
    from reap_omni.fixtures.repos import librispeech_tar

    url = hub_server.add_file("resources/12/test-clean.tar.gz", librispeech_tar(speakers=3, chapters=2,
                                                                                 utterances=3))
    # both Hub parquet repos are missing (404): the OpenSLR tar, moved to the fixture server, serves the rows
    code = run(["download", "-d", "librispeech", "-o", str(tmp_path / "d"), "-n", "5", "--quiet",
                "--source-option", f"librispeech:2:url={url}"])
    assert code == 0
    recs = records(tmp_path / "d")
    assert len(recs) == 5 and {r.source["kind"] for r in recs} == {"http_tar"}
    assert all(r.text for r in recs)


def test_user_mistakes_are_one_line_errors(tmp_path, capsys):
    assert run(["download", "-d", "no-such-dataset", "-o", str(tmp_path)]) == 2
    assert run(["download", "-d", "librispeech", "-o", str(tmp_path), "-n", "0"]) == 2
    assert run(["download", "--from-lock", str(tmp_path / "missing.json"), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'no-such-dataset'" in err and "--samples must be at least 1" in err
    assert "lock file not found" in err and "Traceback" not in err


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def offline_env(hub) -> dict[str, str]:
    """Environment for a CLI subprocess: the fixture Hub, and any other host sent to a closed loopback port."""
    closed = "http://127.0.0.1:9"
    return {**os.environ, "HF_ENDPOINT": hub.endpoint, "HTTP_PROXY": closed, "HTTPS_PROXY": closed,
            "http_proxy": closed, "https_proxy": closed, "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost"}


def test_kill_9_mid_run_then_rerun_gives_exactly_n_valid_rows(hub_server, tmp_path):
    librispeech_hub(hub_server, shards=8, rows_per_shard=10, row_group_size=2)
    for s in range(8):  # each shard's first reads stall and are retried after a back-off: a slow, steady run
        hub_server.add_fault(f"*/{s:05d}.parquet", "stall", count=2, delay=0.05)
    out = tmp_path / "data"
    cmd = [sys.executable, str(REPO / "download_datasets.py"), "--dataset", "librispeech", "--output", str(out),
           "--samples", "40", "--workers", "2"]
    env = offline_env(hub_server)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = out / "calibration" / "audio.jsonl"
    deadline = time.monotonic() + 120
    while _count_lines(manifest) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert _count_lines(manifest) < 40
    hub_server.clear_faults()
    rerun = subprocess.run(cmd + ["--quiet"], env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    recs = records(out)
    assert len(recs) == 40 and len({r.id for r in recs}) == 40
    for r in recs:
        assert probe(r.audio).duration > 0
    media = sorted(p.name for p in (out / "librispeech").iterdir())
    assert media == sorted(Path(r.audio).name for r in recs)
    leftovers = [p for p in out.rglob("*") if ".tmp-" in p.name]
    assert leftovers == []
    # and the killed + resumed set is the one an uninterrupted run picks
    clean = tmp_path / "clean"
    assert run(["download", "-d", "librispeech", "-o", str(clean), "-n", "40", "--quiet"]) == 0
    assert sorted(r.id for r in records(clean)) == sorted(r.id for r in recs)


def test_lock_never_contains_the_token(hub_server, tmp_path):
    librispeech_hub(hub_server, shards=2)
    out = tmp_path / "d"
    assert run(["download", "-d", "librispeech", "-o", str(out), "-n", "3", "--quiet", "--token", "hf_secret123"]) == 0
    for name in ("manifest.lock.json", "stats.json", "audio.jsonl"):
        assert "hf_secret123" not in (out / "calibration" / name).read_text()
    assert msgspec.json.decode((out / "calibration" / "manifest.lock.json").read_bytes())["rows"]


@pytest.mark.parametrize("flag", ["--keep-audio", "--strip-audio"])
def test_video_audio_track_options(hub_server, tmp_path, flag):
    mteb = next(s for s in get_dataset("msrvtt").sources if s.kind == "hf_parquet")  # video + audio in-row
    fixture(hub_server, mteb, shards=2, rows_per_shard=3, row_group_size=2)
    out = tmp_path / "v"
    assert run(["download", "-d", "msrvtt", "-o", str(out), "-n", "2", "--quiet", "--max-video-seconds", "0.5",
                flag]) == 0
    for r in records(out, "video"):
        assert probe(r.video).has_audio is (flag == "--keep-audio") and r.duration <= 0.55
