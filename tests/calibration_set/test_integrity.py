"""Exactly N unique rows under faults: revisited units, duplicated manifests, two writers, storage errors."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from build_helpers import MemorySource, dataset

from reap_omni.calibration_set import normalize as normalize_mod
from reap_omni.calibration_set import writer as writer_mod
from reap_omni.calibration_set.options import BuildOptions
from reap_omni.calibration_set.output_lock import LOCK_FILE, OutputBusy, OutputLock
from reap_omni.calibration_set.plan import per_dataset_plan
from reap_omni.calibration_set.resume import prepare_output
from reap_omni.calibration_set.runner import BuildRunner
from reap_omni.catalog.spec import SourceSpec
from reap_omni.cli import run as cli_run
from reap_omni.fileio import WriteFailed
from reap_omni.manifest.lock import build_lock, read_lock
from reap_omni.manifest.record import iter_records
from reap_omni.media.probe import probe

SPEC = SourceSpec(kind="hf_parquet", repo="org/toy", columns={"audio": "audio", "text": "text"})


def runner_for(opts: BuildOptions, source: MemorySource, err: io.StringIO | None = None) -> BuildRunner:
    return BuildRunner(opts, lambda spec, name: source, out=io.StringIO(), err=err or io.StringIO(),
                       licence_of=lambda n: "CC-BY-4.0")  # fmt: skip


def build(opts: BuildOptions, source: MemorySource, err: io.StringIO | None = None):
    with runner_for(opts, source, err) as runner:
        stats = runner.run(per_dataset_plan([dataset()], opts.samples))
        runner.finish()
    return stats


def manifest_rows(opts: BuildOptions) -> list:
    path = opts.manifest_path("audio")
    return [r for _, r in iter_records(path)] if path.exists() else []


def assert_exact(opts: BuildOptions, n: int) -> None:
    """``n`` rows, unique ids, every media file present and decodable, no other media file in the folder."""
    recs = manifest_rows(opts)
    assert len(recs) == n and len({r.id for r in recs}) == n
    for r in recs:
        assert probe(r.audio).duration > 0
    folder = opts.media_dir("toy")
    files = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert files == sorted(Path(r.audio).name for r in recs)
    lock = read_lock(opts.calibration_dir / "manifest.lock.json")
    assert sorted(x.id for x in lock.rows) == sorted(r.id for r in recs)


# -- no duplicate row, ever ----------------------------------------------------------------------------------
def test_a_revisited_unit_credits_its_rows_instead_of_writing_them_again(tmp_path):
    # one row group of 10 good rows + one of 10 corrupt rows; 12 wanted: round 1 gives 6 + 0, round 2 reads
    # the good group again for 12 and must find its 6 rows already written
    src = MemorySource(SPEC, shards=2, units_per_shard=1, rows=10, bad=lambda i: i >= 10, group=lambda i: None)
    opts = BuildOptions(output=tmp_path / "out", samples=12, quiet=True)
    stats = build(opts, src)
    recs = manifest_rows(opts)
    assert len(recs) == 10 and len({r.id for r in recs}) == 10
    assert stats.datasets["toy"].rows == 10 and stats.failed  # short, and said so: not "12/12 ok"
    assert_exact(opts, 10)
    # a rerun neither adds copies nor loses rows
    build(opts, src)
    assert_exact(opts, 10)


def test_a_key_repeated_by_the_source_is_written_once(tmp_path):
    class Repeating(MemorySource):
        def read(self, unit):
            items = list(super().read(unit))
            yield from items + items  # every candidate twice

    src = Repeating(SPEC, shards=2, units_per_shard=1, rows=5, group=lambda i: None)
    opts = BuildOptions(output=tmp_path / "out", samples=10, quiet=True)
    build(opts, src)
    assert_exact(opts, 10)


def test_rerun_repairs_a_manifest_that_holds_duplicates(tmp_path):
    src = MemorySource(SPEC)
    opts = BuildOptions(output=tmp_path / "out", samples=6, quiet=False)
    build(opts, src)
    manifest = opts.manifest_path("audio")
    lines = manifest.read_bytes().splitlines(keepends=True)
    first = json.loads(lines[0])
    first_media = Path(first["audio"])
    copy = dict(first, audio=str(first_media.with_name(first["id"] + ".flac")), text="a later copy")
    Path(copy["audio"]).write_bytes(first_media.read_bytes())  # the later copy's own (orphan-to-be) media
    manifest.write_bytes(b"".join(lines) + lines[1] + lines[2] + json.dumps(copy).encode() + b"\n")
    before = first_media.read_bytes()
    err = io.StringIO()
    build(opts, src, err)
    assert "removed 3 duplicate row(s)" in err.getvalue()
    assert_exact(opts, 6)
    kept = manifest_rows(opts)[0]
    assert kept.id == first["id"] and kept.text == first["text"] and first_media.read_bytes() == before
    assert not Path(copy["audio"]).exists()


def test_media_changed_after_the_run_is_fetched_again(tmp_path):
    """A media file overwritten after a finished run (same size, other bytes) is no done row: the rerun
    drops the row and its file, fetches it again, and ends with exactly N rows whose digests match."""
    src = MemorySource(SPEC)
    opts = BuildOptions(output=tmp_path / "out", samples=5, quiet=False)
    build(opts, src)
    victim = manifest_rows(opts)[2]
    path = Path(victim.audio)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    err = io.StringIO()
    build(opts, src, err)
    assert "dropped 1 row(s) whose media changed on disk" in err.getvalue()
    assert_exact(opts, 5)
    from reap_omni.manifest.lock import file_sha256

    for r in manifest_rows(opts):
        assert file_sha256(r.audio) == r.meta["sha256"]["audio"]
    assert victim.id in {r.id for r in manifest_rows(opts)}  # the same row, fetched again


def test_prepare_output_counts_unique_ids(tmp_path):
    out = tmp_path
    media = out / "ls" / "ls_0123456789abcdef.wav"
    media.parent.mkdir(parents=True)
    media.write_bytes(b"RIFF0000")
    row = {"id": "ls_0123456789abcdef", "modality": "audio", "audio": str(media),
           "source": {"dataset": "ls", "key": "p|k", "unit": "p|u"}}  # fmt: skip
    (out / "calibration").mkdir()
    (out / "calibration" / "audio.jsonl").write_text((json.dumps(row) + "\n") * 3)
    report = prepare_output(out, ["ls"])
    assert report.datasets["ls"].rows == 1 and report.duplicate_rows == 2 and media.exists()


def test_lock_lists_each_row_once_whatever_the_manifest_holds():
    row = {"id": "a_1", "modality": "audio", "audio": "/x.wav", "source": {"dataset": "a", "key": "k"}}
    lock = build_lock([row, row, dict(row, id="a_2")], options={}, datasets={})
    assert [r.id for r in lock.rows] == ["a_1"]


# -- one writer per output folder ----------------------------------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys, time
    from reap_omni.calibration_set.output_lock import OutputLock
    lock = OutputLock(sys.argv[1])
    lock.acquire()
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def hold_in_subprocess(folder: Path, seconds: float) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), str(seconds)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_at_once_naming_the_holder(tmp_path):
    opts = BuildOptions(output=tmp_path / "out", samples=4, quiet=True)
    holder = hold_in_subprocess(opts.calibration_dir, 60)
    try:
        with pytest.raises(OutputBusy, match=rf"being written by another reap-omni run \(pid {holder.pid} on .*"
                                             r"started .*\); .*--wait-lock") as info:  # fmt: skip
            build(opts, MemorySource(SPEC))
        assert info.value.exit_code == 2
        assert not opts.manifest_path("audio").exists()
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock, the lock file stays behind
        holder.wait()
    assert (opts.calibration_dir / LOCK_FILE).exists()
    build(opts, MemorySource(SPEC))  # a stale lock file does not block
    assert_exact(opts, 4)


def test_wait_lock_waits_for_the_other_run(tmp_path):
    opts = BuildOptions(output=tmp_path / "out", samples=4, quiet=True, wait_lock=True)
    holder = hold_in_subprocess(opts.calibration_dir, 1.0)
    err = io.StringIO()
    build(opts, MemorySource(SPEC), err)
    assert "waiting for the other run" in err.getvalue()  # it found the folder held, and waited
    assert holder.wait(timeout=30) == 0  # the holder finished its sleep: it was never killed or pre-empted
    assert_exact(opts, 4)


def test_the_lock_is_released_after_the_run(tmp_path):
    opts = BuildOptions(output=tmp_path / "out", samples=4, quiet=True)
    build(opts, MemorySource(SPEC))
    with OutputLock(opts.calibration_dir):  # would raise OutputBusy if the runner still held it
        pass


def test_two_cli_downloads_into_one_folder_one_is_refused(hub_server, tmp_path):
    from test_download_e2e import REPO, librispeech_hub, offline_env

    librispeech_hub(hub_server, shards=8, rows_per_shard=10, row_group_size=2)
    for s in range(8):
        hub_server.add_fault(f"*/{s:05d}.parquet", "stall", count=2, delay=0.05)
    out = tmp_path / "data"
    cmd = [sys.executable, str(REPO / "download_datasets.py"), "--dataset", "librispeech", "--output", str(out),
           "--samples", "20", "--workers", "2", "--quiet"]  # fmt: skip
    env = offline_env(hub_server)
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lock = out / "calibration" / LOCK_FILE
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert first.wait() == 0, first.stderr.read()
    first.stderr.close()
    assert second.returncode == 2 and "being written by another reap-omni run" in second.stderr
    assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1
    recs = [r for _, r in iter_records(out / "calibration" / "audio.jsonl")]
    assert len(recs) == 20 and len({r.id for r in recs}) == 20


# -- storage errors are input errors -------------------------------------------------------------------------
def one_line_error(args: list[str], capsys) -> str:
    code = cli_run(args)
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_bad_output_paths_are_one_line_errors(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    base = ["download", "-d", "librispeech", "-n", "2", "--quiet", "-o"]
    msg = one_line_error([*base, str(a_file)], capsys)
    assert msg == f"reap-omni: error: cannot write {a_file}: it exists and is a file, not a folder"
    msg = one_line_error([*base, str(a_file / "below")], capsys)
    assert msg.startswith("reap-omni: error: cannot write ") and "is a file, not a folder" in msg
    msg = one_line_error([*base, ""], capsys)
    assert msg == "reap-omni: error: --output is empty; give the folder to write the calibration set to"
    assert a_file.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


@pytest.fixture
def read_only_dir(tmp_path, mounts):
    """A folder on a read-only bind mount (root only), with a second writable view of the same files."""
    rw = tmp_path / "rw"
    rw.mkdir()
    return rw, mounts.read_only_view(rw)


def test_read_only_output_is_one_line(read_only_dir, capsys):
    _rw, ro = read_only_dir
    msg = one_line_error(["download", "-d", "librispeech", "-n", "2", "--quiet", "-o", str(ro / "new")], capsys)
    assert msg == f"reap-omni: error: cannot write {ro / 'new'}: read-only file system"


def test_finished_output_remounted_read_only_is_one_line_and_untouched(read_only_dir):
    rw, ro = read_only_dir
    build(BuildOptions(output=rw / "out", samples=4, quiet=True), MemorySource(SPEC))
    before = {p: p.read_bytes() for p in (rw / "out").rglob("*") if p.is_file()}
    opts = BuildOptions(output=ro / "out", samples=4, quiet=True)
    with pytest.raises(WriteFailed, match=r"cannot write .*: read-only file system$"):
        build(opts, MemorySource(SPEC))
    assert {p: p.read_bytes() for p in (rw / "out").rglob("*") if p.is_file()} == before


@pytest.fixture
def small_disk(mounts):
    """A 96 KiB tmpfs (root only): room for a few 0.3 s WAV rows, not for twenty."""
    return mounts.tmpfs("96k")


def test_real_disk_full_stops_with_one_line_and_the_rerun_completes(small_disk, mounts):
    opts = BuildOptions(output=small_disk / "out", samples=20, quiet=True, workers=2)
    src = MemorySource(SPEC)
    with pytest.raises(WriteFailed, match=r"^cannot write .*: disk full; (\d+)/20 rows kept, free space and rerun$"):
        build(opts, src)
    recs = manifest_rows(opts)
    assert 0 < len(recs) < 20 and len({r.id for r in recs}) == len(recs)
    for r in recs:
        assert probe(r.audio).duration > 0  # every listed row is whole
    assert mounts.run("-o", "remount,size=16m", str(small_disk))
    build(opts, src)
    assert_exact(opts, 20)


class _FailingOs:
    """``os`` as the manifest writer sees it, with ``write`` failing (ENOSPC) from the ``after``-th call."""

    def __init__(self, after: int, partial: bool):
        self.calls, self.after, self.partial = 0, after, partial

    def write(self, fd, data):
        self.calls += 1
        if self.calls > self.after:
            if self.partial and self.calls == self.after + 1:
                os.write(fd, bytes(data[: len(data) // 2]))  # a torn half line first, as a real full disk can
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    def __getattr__(self, name):
        return getattr(os, name)


@pytest.mark.parametrize("partial", [False, True])
def test_injected_disk_full_on_the_manifest(tmp_path, monkeypatch, partial):
    opts = BuildOptions(output=tmp_path / "out", samples=20, quiet=True, workers=1)
    src = MemorySource(SPEC)
    monkeypatch.setattr(writer_mod, "os", _FailingOs(after=5, partial=partial))
    with pytest.raises(WriteFailed, match=r"audio\.jsonl: disk full; 5/20 rows kept, free space and rerun$"):
        build(opts, src)
    recs = manifest_rows(opts)
    assert len(recs) == 5  # the torn half line was cut back at once
    media = sorted(p.name for p in opts.media_dir("toy").iterdir())
    assert media == sorted(Path(r.audio).name for r in recs)  # the failed row's media went with it
    monkeypatch.undo()
    build(opts, src)
    assert_exact(opts, 20)


def test_injected_disk_full_in_media_writing_keeps_every_finished_file(tmp_path, monkeypatch):
    opts = BuildOptions(output=tmp_path / "out", samples=20, quiet=True, workers=2)
    src = MemorySource(SPEC)
    real = normalize_mod.normalize_audio
    calls = {"n": 0}

    def failing(data, dst, **kw):
        calls["n"] += 1
        if calls["n"] > 7:
            raise OSError(errno.ENOSPC, "No space left on device", os.fspath(dst))
        return real(data, dst, **kw)

    monkeypatch.setattr(normalize_mod, "normalize_audio", failing)
    with pytest.raises(WriteFailed, match=r"disk full; 7/20 rows kept, free space and rerun$"):
        build(opts, src)
    assert calls["n"] <= 7 + opts.workers  # stopped at once, not one failure per remaining candidate
    assert_exact(opts, 7)  # lock and stats were written for the 7 rows kept
    monkeypatch.undo()
    build(opts, src)
    assert_exact(opts, 20)


def test_unreadable_local_input_is_a_row_problem_not_a_stop(tmp_path, monkeypatch):
    """EACCES on a file outside the output (a source's file) rejects that row; the build goes on."""
    opts = BuildOptions(output=tmp_path / "out", samples=6, quiet=True, workers=1)
    real = normalize_mod.normalize_audio
    calls = {"n": 0}

    def failing(data, dst, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise PermissionError(errno.EACCES, "Permission denied", "/elsewhere/input.flac")
        return real(data, dst, **kw)

    monkeypatch.setattr(normalize_mod, "normalize_audio", failing)
    build(opts, MemorySource(SPEC))
    assert_exact(opts, 6)


def test_ctrl_c_mid_download_stops_keeps_whole_rows_and_the_rerun_completes(hub_server, tmp_path):
    import signal

    from test_download_e2e import REPO, _count_lines, librispeech_hub, offline_env

    librispeech_hub(hub_server, shards=8, rows_per_shard=10, row_group_size=2)
    for s in range(8):
        hub_server.add_fault(f"*/{s:05d}.parquet", "stall", count=2, delay=0.05)
    out = tmp_path / "data"
    cmd = [sys.executable, str(REPO / "download_datasets.py"), "--dataset", "librispeech", "--output", str(out),
           "--samples", "30", "--workers", "2"]  # fmt: skip
    env = offline_env(hub_server)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    manifest = out / "calibration" / "audio.jsonl"
    deadline = time.monotonic() + 120
    while _count_lines(manifest) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode in (0, 130), err  # 0 only if it had just finished
    assert "Traceback" not in err
    if proc.returncode == 130:
        assert "interrupted; finished rows and files are kept" in err
    recs = manifest_rows(BuildOptions(output=out))
    assert len({r.id for r in recs}) == len(recs)
    for r in recs:
        assert probe(r.audio).duration > 0
    hub_server.clear_faults()
    rerun = subprocess.run(cmd + ["--quiet"], env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    recs = manifest_rows(BuildOptions(output=out))
    assert len(recs) == 30 and len({r.id for r in recs}) == 30
