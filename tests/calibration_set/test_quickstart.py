import json
import os

from reap_omni.cli import run
from reap_omni.manifest.record import iter_records


def test_quickstart_demo_runs_offline_and_prints_the_next_command(tmp_path, capsys):
    before = os.environ.get("HF_ENDPOINT")
    out = tmp_path / "demo"
    assert run(["quickstart", "--demo", "--output", str(out), "--samples", "6", "--quiet"]) == 0
    assert os.environ.get("HF_ENDPOINT") == before  # the demo Hub's endpoint does not leak out of the run
    for stratum in ("audio", "video", "mixed"):
        recs = [r for _, r in iter_records(out / "calibration" / f"{stratum}.jsonl")]
        assert len(recs) == 6 and len({r.source["dataset"] for r in recs}) >= 2  # balanced over datasets
    printed = capsys.readouterr().out
    assert "python reap_expert_pruning.py --model-path" in printed
    assert f"--audio-data {out / 'calibration' / 'audio.jsonl'}" in printed and "--calibration-samples 6" in printed
    # the demo's records say they are a demo, and its lock is refused at once by --from-lock
    stats = json.loads((out / "calibration" / "stats.json").read_text())
    lock = json.loads((out / "calibration" / "manifest.lock.json").read_text())
    assert stats["demo"] is True and lock["demo"] is True and "not the real Hub's" in lock["note"]
    assert run(["download", "--from-lock", str(out / "calibration" / "manifest.lock.json"), "-o",
                str(tmp_path / "again")]) == 2  # fmt: skip
    assert "comes from `quickstart --demo`" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()  # refused before anything was fetched or written


def test_quickstart_gives_a_failed_datasets_share_to_its_stratum_peers(tmp_path, monkeypatch, capsys):
    from build_helpers import MemorySource, dataset

    from reap_omni.calibration_set import runner as runner_mod
    from reap_omni.calibration_set.options import BuildOptions
    from reap_omni.catalog.spec import SourceSpec
    from reap_omni.cli.download_cmds import _quickstart
    from reap_omni.sources.base import SourceUnavailable

    specs = {n: SourceSpec(kind="hf_parquet", repo=f"org/{n}") for n in ("a", "b", "c")}
    sources = {
        "org/a": MemorySource(specs["a"]),
        "org/b": MemorySource(specs["b"], unavailable=SourceUnavailable("org/b is gated: set HF_TOKEN", "gated")),
        "org/c": MemorySource(specs["c"]),
    }
    monkeypatch.setattr(runner_mod, "default_opener", lambda options: lambda spec, name: sources[spec.repo])
    datasets = [dataset(n, sources=(specs[n],)) for n in ("a", "b", "c")]
    opts = BuildOptions(output=tmp_path / "q", samples=9, quiet=True)
    assert _quickstart(opts, datasets, 9) == 0  # the stratum still has its 9 rows
    recs = [r for _, r in iter_records(opts.manifest_path("audio"))]
    counts = {n: sum(r.source["dataset"] == n for r in recs) for n in ("a", "b", "c")}
    assert counts == {"a": 5, "b": 0, "c": 4} or counts == {"a": 4, "b": 0, "c": 5}
    assert "b: 0/3 rows: org/b is gated" in capsys.readouterr().err


def test_quickstart_without_every_stratum_says_what_is_missing_instead_of_next(tmp_path, monkeypatch, capsys):
    from build_helpers import MemorySource, dataset

    from reap_omni.calibration_set import runner as runner_mod
    from reap_omni.calibration_set.options import BuildOptions
    from reap_omni.catalog.spec import SourceSpec
    from reap_omni.cli.download_cmds import _quickstart
    from reap_omni.sources.base import SourceUnavailable

    specs = {n: SourceSpec(kind="hf_parquet", repo=f"org/{n}") for n in ("a", "v")}
    sources = {
        "org/a": MemorySource(specs["a"]),
        "org/v": MemorySource(specs["v"], unavailable=SourceUnavailable("org/v is gated: set HF_TOKEN", "gated")),
    }
    monkeypatch.setattr(runner_mod, "default_opener", lambda options: lambda spec, name: sources[spec.repo])
    datasets = [dataset("a", sources=(specs["a"],)), dataset("v", modality="video", sources=(specs["v"],))]
    opts = BuildOptions(output=tmp_path / "q", samples=4, quiet=True)
    assert _quickstart(opts, datasets, 4) == 1
    out, err = capsys.readouterr()
    assert "Next:" not in out and "reap_expert_pruning.py" not in out
    assert "not ready to prune: video 0/4 rows; fix the failures above" in err
    assert f"reap-omni quickstart --output {tmp_path / 'q'} --samples 4" in err
