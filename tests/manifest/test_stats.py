import json
from collections import Counter

from reap_omni.manifest.stats import BuildStats, DatasetStats, format_failures, render_table


def sample():
    s = BuildStats(options={"seed": 0})
    s.add(DatasetStats("librispeech", "audio", 100, rows=100, new_rows=60, seconds=7200, bytes_downloaded=12_500_000,
                       failures=Counter(undecodable=2, too_short=5)))
    s.add(DatasetStats("gigaspeech", "audio", 100, rows=0, failures=Counter(gated=1), message="gated: set HF_TOKEN"))
    s.add(DatasetStats("msrvtt", "video", 10, rows=4))
    return s


def test_status_and_totals():
    s = sample()
    assert [d.status for d in s.datasets.values()] == ["ok", "failed", "partial"]
    assert [d.name for d in s.failed] == ["gigaspeech", "msrvtt"]
    d = s.to_dict()
    assert d["totals"] == {"rows": 104, "new_rows": 60, "hours": 2.0, "bytes_downloaded": 12_500_000,
                           "failed_datasets": ["gigaspeech", "msrvtt"]}
    assert d["datasets"]["librispeech"]["failures"] == {"too_short": 5, "undecodable": 2}
    assert d["datasets"]["gigaspeech"]["message"] == "gated: set HF_TOKEN"


def test_write_is_json(tmp_path):
    sample().write(tmp_path / "stats.json")
    assert json.loads((tmp_path / "stats.json").read_text())["datasets"]["msrvtt"]["rows"] == 4


def test_table_shows_rows_hours_mb_and_failures():
    table = render_table(sample())
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["dataset", "stratum", "rows", "hours", "MB"]
    ls = next(line for line in lines if line.startswith("librispeech"))
    assert "100/100" in ls and "2.000" in ls and "12.5" in ls and "too_short×5, undecodable×2" in ls
    assert lines[-1].startswith("total") and "104/210" in lines[-1] and "2 short" in lines[-1]


def test_format_failures_limits_and_orders():
    assert format_failures(Counter()) == "-"
    assert format_failures(Counter(a=1, b=3, c=2, d=1, e=1), limit=2) == "b×3, c×2, +3 more"
