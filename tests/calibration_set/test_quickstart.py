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


def _rows(out):
    recs = []
    for stratum in ("audio", "video", "mixed"):
        path = out / "calibration" / f"{stratum}.jsonl"
        if path.exists():
            recs += [r for _, r in iter_records(path)]
    return recs


def test_quickstart_demo_reads_no_evaluation_split_and_its_ids_do_not_depend_on_the_port(tmp_path, capsys):
    """The default mix reads training splits only (0 flagged rows, no contamination line); the demo server's random
    port never reaches the row ids (archive URLs carry it), so two demos give the same ids."""
    first, second = tmp_path / "a", tmp_path / "b"
    assert run(["quickstart", "--demo", "--output", str(first), "--samples", "6"]) == 0
    printed = capsys.readouterr().out
    assert "evaluation split" not in printed
    recs = _rows(first)
    assert len(recs) == 18 and all(r.source["eval_split"] is False for r in recs)
    assert {r.source["dataset"] for r in recs if r.modality == "mixed"} <= {"vggsound", "meld", "avspeech"}
    assert all(r.source.get("split") for r in recs)  # the split used, for `report`
    talking = [r for r in recs if r.source["dataset"] == "avspeech"]  # video-only stream + separate audio, combined
    assert talking and all(r.has_audio and r.audio for r in talking)
    assert run(["quickstart", "--demo", "--output", str(second), "--samples", "6", "--quiet"]) == 0
    assert sorted(r.id for r in _rows(second)) == sorted(r.id for r in recs)


def test_allow_eval_splits_brings_the_flagged_sources_back(tmp_path, monkeypatch, capsys):
    """A dataset whose training source fails: by default it is left out (its share goes to its stratum peers);
    with --allow-eval-splits its benchmark copy is used, flagged, and the summary names the benchmark."""
    from build_helpers import MemorySource, dataset

    from reap_omni.calibration_set import runner as runner_mod
    from reap_omni.calibration_set.options import BuildOptions
    from reap_omni.catalog.spec import SourceSpec
    from reap_omni.cli.download_cmds import _quickstart
    from reap_omni.sources.base import SourceUnavailable

    train = SourceSpec(kind="hf_parquet", repo="org/b-train", split="train")
    bench = SourceSpec(kind="hf_parquet", repo="org/b-test", split="test", eval_split=True)
    plain = SourceSpec(kind="hf_parquet", repo="org/a", split="train")
    sources = {
        "org/a": MemorySource(plain),
        "org/b-train": MemorySource(train, unavailable=SourceUnavailable("org/b-train moved", "not_found")),
        "org/b-test": MemorySource(bench),
    }
    monkeypatch.setattr(runner_mod, "default_opener", lambda options: lambda spec, name: sources[spec.repo])
    datasets = [dataset("a", sources=(plain,)), dataset("b", sources=(train, bench))]
    strict = BuildOptions(output=tmp_path / "strict", samples=6, quiet=True, allow_eval_splits=False)
    assert _quickstart(strict, datasets, 6) == 0
    recs = _rows(strict.output)
    assert {r.source["dataset"] for r in recs} == {"a"} and len(recs) == 6
    out, err = capsys.readouterr()
    assert "evaluation split" not in out and "b: 0/3 rows: org/b-train moved" in err
    allowed = BuildOptions(output=tmp_path / "allowed", samples=6, quiet=True)
    assert _quickstart(allowed, datasets, 6) == 0
    flagged = [r for r in _rows(allowed.output) if r.source["dataset"] == "b"]
    assert len(flagged) == 3 and all(r.source["eval_split"] is True and r.source["split"] == "test" for r in flagged)
    assert "rows of B test come from evaluation splits" in capsys.readouterr().out


def test_an_eval_only_dataset_left_out_says_how_to_use_it(tmp_path, monkeypatch, capsys):
    from build_helpers import MemorySource, dataset

    from reap_omni.calibration_set import runner as runner_mod
    from reap_omni.calibration_set.options import BuildOptions
    from reap_omni.catalog.spec import SourceSpec
    from reap_omni.cli.download_cmds import _quickstart

    plain = SourceSpec(kind="hf_parquet", repo="org/a", split="train")
    bench = SourceSpec(kind="hf_parquet", repo="org/b-test", split="test", eval_split=True)
    sources = {"org/a": MemorySource(plain), "org/b-test": MemorySource(bench)}
    monkeypatch.setattr(runner_mod, "default_opener", lambda options: lambda spec, name: sources[spec.repo])
    datasets = [dataset("a", sources=(plain,)), dataset("b", sources=(bench,))]
    opts = BuildOptions(output=tmp_path / "q", samples=4, quiet=True, allow_eval_splits=False)
    assert _quickstart(opts, datasets, 4) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("reap-omni: b:")]
    assert lines == ["reap-omni: b: 0/2 rows: only evaluation-split sources (test), which quickstart leaves out; "
                     "pass --allow-eval-splits to use them (their rows are flagged)"]


def test_quickstart_has_the_allow_eval_splits_flag(capsys):
    import pytest

    with pytest.raises(SystemExit):
        run(["quickstart", "--help"])
    assert "--allow-eval-splits" in capsys.readouterr().out
