import json
import threading

from reap_omni.calibration_set.writer import ManifestAppender, ManifestSet, repair_torn_tail


def test_append_writes_full_lines_and_creates_the_file(tmp_path):
    path = tmp_path / "cal" / "audio.jsonl"
    app = ManifestAppender(path)
    app.append({"id": "a", "text": "x"})
    app.append({"id": "b", "text": "y"})
    app.close()
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "b"]
    assert path.read_bytes().endswith(b"\n")


def test_torn_last_line_is_cut_before_appending(tmp_path):
    path = tmp_path / "audio.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "b"}\n{"id": "c", "te')
    app = ManifestAppender(path)
    app.append({"id": "d"})
    app.close()
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "b", "d"]


def test_repair_torn_tail_cases(tmp_path):
    path = tmp_path / "m.jsonl"
    assert repair_torn_tail(path) is False  # missing file
    path.write_bytes(b"")
    assert repair_torn_tail(path) is False
    path.write_bytes(b'{"id": "only-partial"')
    assert repair_torn_tail(path) is True and path.read_bytes() == b""
    long_line = b'{"id": "' + b"x" * 200_000 + b'"}\n'
    path.write_bytes(long_line + b"x" * 100_000)
    assert repair_torn_tail(path) is True and path.read_bytes() == long_line
    assert repair_torn_tail(path) is False and path.read_bytes() == long_line


def test_concurrent_appends_never_interleave(tmp_path):
    with ManifestSet(tmp_path) as ms:
        def work(t):
            for i in range(50):
                ms.append("audio" if i % 2 else "video", {"id": f"{t}-{i}", "text": "y" * 5000})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    ids = []
    for name in ("audio", "video"):
        ids += [json.loads(line)["id"] for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(f"{t}-{i}" for t in range(8) for i in range(50))
