"""``download`` and ``quickstart`` end with the ``reap-omni report`` command, which then works as printed."""

from __future__ import annotations

import json
import shlex

from reap_omni.catalog.registry import get_dataset
from reap_omni.cli import build_parser, run
from reap_omni.fixtures.repos import add_spec_fixture


def _last_line(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


def _run_printed(line: str) -> int:
    argv = shlex.split(line.strip())
    assert argv[:2] == ["reap-omni", "report"]
    return run(argv[1:] + ["--quiet"])


def test_report_is_a_registered_command():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert "report" in sub.choices
    assert "DIR" in sub.choices["report"].format_usage()


def test_download_ends_with_the_report_command(hub_server, tmp_path, capsys):
    add_spec_fixture(hub_server, get_dataset("librispeech").sources[0], shards=2, rows_per_shard=4,
                     row_group_size=2)  # fmt: skip
    out = tmp_path / "my data"  # a space: the printed command quotes it
    assert run(["download", "--dataset", "librispeech", "--output", str(out), "--samples", "3"]) == 0
    printed = capsys.readouterr().out
    last = _last_line(printed)
    assert last == f"  reap-omni report {shlex.quote(str(out))}"
    assert "See what the calibration set holds" in printed.splitlines()[-2]
    assert _run_printed(last) == 0
    assert json.loads((out / "report.json").read_text())["totals"]["rows"] == 3
    # --quiet: no hint
    assert run(["download", "--dataset", "librispeech", "--output", str(out), "--samples", "3", "--quiet"]) == 0
    assert "reap-omni report" not in capsys.readouterr().out


def test_quickstart_ends_with_the_report_command_after_the_pruning_command(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run(["quickstart", "--demo", "--output", str(out), "--samples", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.index("reap_expert_pruning.py") < printed.index("reap-omni report")
    last = _last_line(printed)
    assert last == f"  reap-omni report {out}"
    assert _run_printed(last) == 0 and (out / "report.md").is_file()
    assert run(["quickstart", "--demo", "--output", str(tmp_path / "q"), "--samples", "3", "--quiet"]) == 0
    assert "reap-omni report" not in capsys.readouterr().out


def test_no_report_hint_when_no_rows_were_written(tmp_path):
    from reap_omni.calibration_set.options import BuildOptions
    from reap_omni.cli.download_cmds import report_hint

    opts = BuildOptions(output=tmp_path / "o", samples=2)
    assert report_hint(opts) is None
    opts.manifest_path("video").parent.mkdir(parents=True)
    opts.manifest_path("video").write_text("")
    assert report_hint(opts) is None  # an empty manifest has no rows to report
    opts.manifest_path("video").write_text('{"id": "a", "modality": "text"}\n')
    assert report_hint(opts).endswith(f"reap-omni report {tmp_path / 'o'}")
    quiet = BuildOptions(output=tmp_path / "o", samples=2, quiet=True)
    assert report_hint(quiet) is None
