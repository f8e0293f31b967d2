"""``reap-omni report``: every figure of report.json and report.md equals a recomputation done here.

The recomputation reads the manifests with the ``json`` module and probes media with PyAV directly, so it
shares no code with the report: rows, hours, duration statistics and histograms, distinct groups,
languages, splits and evaluation-split rows, licences from the catalog, media formats.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from reap_omni.cli import run

STRATUM = {"audio": "S1", "video": "S2", "mixed": "S3"}
LABEL = {"S1": "S1 audio", "S2": "S2 video", "S3": "S3 audio+video"}
EVAL_PREFIXES = ("test", "eval")  # the catalog's rule: dev/validation are calibration splits
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- an independent recomputation ---------------------------------------------------------------------------
def _probe(path: str) -> dict:
    with av.open(path) as c:
        a = c.streams.audio[0] if c.streams.audio else None
        v = c.streams.video[0] if c.streams.video else None
        return {
            "duration": c.duration / 1_000_000 if c.duration else None,
            "sample_rate": a.rate if a else None,
            "channels": len(a.layout.channels) if a else None,  # PyAV 12 has no layout.nb_channels
            "width": v.width if v else None,
            "height": v.height if v else None,
            "fps": float(v.average_rate) if v is not None and v.average_rate else None,
        }


def _abs(value: str, base: Path) -> str:
    p = Path(value)
    return str(p if p.is_absolute() else (base / p).resolve())


def recompute(manifests: list[Path]) -> dict:
    strata: dict = {}
    datasets: dict = {}
    languages: Counter = Counter()
    for m in manifests:
        for line in m.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key = STRATUM[row["modality"]]
            src = row.get("source") or {}
            name = src.get("dataset") or "unknown"
            audio = _abs(row["audio"], m.parent) if row.get("audio") else None
            video = _abs(row["video"], m.parent) if row.get("video") else None
            main = audio if row["modality"] == "audio" else video
            dur = row.get("duration")
            if dur is None:
                dur = _probe(main)["duration"]
            s = strata.setdefault(key, {"rows": 0, "durations": {}, "facts": {}})
            s["rows"] += 1
            s["durations"].setdefault(name, []).append(dur)
            d = datasets.setdefault(name, {"rows": 0, "groups": set(), "with_group": 0, "langs": Counter(),
                                           "splits": Counter(), "eval": 0, "rules": set()})  # fmt: skip
            d["rows"] += 1
            if src.get("group") not in (None, ""):
                d["groups"].add(str(src["group"]))
                d["with_group"] += 1
            lang = row.get("lang") or "unknown"
            d["langs"][lang] += 1
            languages[lang] += 1
            d["splits"][src.get("split") or "unknown"] += 1
            if isinstance(src.get("eval_split"), bool):
                d["rules"].add("flag")
                d["eval"] += src["eval_split"]
            elif src.get("split"):
                d["rules"].add("split")
                d["eval"] += src["split"].strip().lower().startswith(EVAL_PREFIXES)
            else:
                d["rules"].add("none")
            meta = row.get("meta") or {}
            facts = s["facts"]
            if row["modality"] in ("audio", "mixed"):
                track = _probe(audio or video)
                sr = meta.get("sample_rate") or track["sample_rate"]
                ch = meta.get("channels") or track["channels"]
                facts.setdefault("sample_rate", Counter())[str(sr)] += 1
                facts.setdefault("channels", Counter())[str(ch)] += 1
            if row["modality"] in ("video", "mixed"):
                vid = _probe(video)
                w, h = row.get("width") or vid["width"], row.get("height") or vid["height"]
                fps = row.get("fps") or vid["fps"]
                facts.setdefault("resolution", Counter())[f"{w}x{h}"] += 1
                facts.setdefault("fps", Counter())[f"{round(fps, 3):g}"] += 1
    return {"strata": strata, "datasets": datasets, "languages": languages}


def _md_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Markdown tables keyed by their header joined with '|', rows as {column: cell} (bold removed)."""
    tables, lines = {}, text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            def cells(s: str) -> list[str]:
                return [c.strip().replace("**", "") for c in re.split(r"(?<!\\)\|", s.strip())[1:-1]]

            header = cells(lines[i])
            body = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                body.append(dict(zip(header, cells(lines[i]), strict=True)))
                i += 1
            tables["|".join(header)] = body
        else:
            i += 1
    return tables


def check_report(manifests: list[Path], report: dict, md: str) -> None:
    """Every number of ``report`` (report.json) and ``md`` (report.md) equals the recomputation."""
    from reap_omni.catalog.registry import availability, get_dataset
    from reap_omni.errors import ReapOmniError

    exp = recompute(manifests)
    rows = sum(s["rows"] for s in exp["strata"].values())
    seconds = math.fsum(v for s in exp["strata"].values() for vs in s["durations"].values() for v in vs)
    assert report["totals"]["rows"] == rows
    assert report["totals"]["seconds"] == pytest.approx(seconds, rel=1e-12)
    assert report["totals"]["hours"] == pytest.approx(seconds / 3600, rel=1e-12)
    assert report["totals"]["datasets"] == len(exp["datasets"])
    assert set(report["strata"]) == set(exp["strata"])
    tables = _md_tables(md)
    assert f"**{rows} rows**, **{seconds / 3600:.3f} h**" in md

    hours_table = {(r["stratum"], r["dataset"]): r for r in tables["stratum|dataset|rows|hours|share of stratum rows"]}
    dur_table = {r["stratum"]: r for r in
                 tables["stratum|rows with a duration|min s|median s|mean s|max s|probed|unknown"]}  # fmt: skip
    media_table = {(r["stratum"], r["fact"]): r["values (rows)"] for r in
                   tables["stratum|fact|values (rows)|origin (rows)"]}  # fmt: skip
    for key, s in exp["strata"].items():
        got = report["strata"][key]
        every = [v for vs in s["durations"].values() for v in vs]
        assert got["rows"] == s["rows"] == len(every)
        assert got["seconds"] == pytest.approx(math.fsum(every), rel=1e-12)
        assert set(got["datasets"]) == set(s["durations"])
        for name, vs in s["durations"].items():
            assert got["datasets"][name]["rows"] == len(vs)
            assert got["datasets"][name]["seconds"] == pytest.approx(math.fsum(vs), rel=1e-12)
            cell = hours_table[(LABEL[key], name)]
            assert cell["rows"] == str(len(vs)) and cell["hours"] == f"{math.fsum(vs) / 3600:.3f}"
        total = hours_table[(LABEL[key], "all")]
        assert total["rows"] == str(s["rows"]) and total["hours"] == f"{math.fsum(every) / 3600:.3f}"
        # durations: statistics and the histogram on the report's edges
        d = got["durations"]
        assert d["known"] == len(every) and d["unknown"] == 0
        assert d["min"] == pytest.approx(min(every)) and d["max"] == pytest.approx(max(every))
        assert d["median"] == pytest.approx(statistics.median(every))
        assert d["mean"] == pytest.approx(statistics.fmean(every))
        edges = d["histogram"]["edges"]
        assert edges[0] <= min(every) and edges[-1] >= max(every) and edges == sorted(edges)
        assert d["histogram"]["counts"] == np.histogram(every, bins=edges)[0].tolist()
        for name, vs in s["durations"].items():
            assert d["histogram"]["by_dataset"][name] == np.histogram(vs, bins=edges)[0].tolist()
        row = dur_table[LABEL[key]]
        assert row["rows with a duration"] == str(len(every))
        assert (row["min s"], row["median s"], row["mean s"], row["max s"]) == tuple(
            f"{x:.2f}" for x in (min(every), statistics.median(every), statistics.fmean(every), max(every)))
        # media formats
        assert {f: dict(c) for f, c in s["facts"].items()} == got["media"]["facts"]
        for fact, counts in s["facts"].items():
            label = {"sample_rate": "sample rate (Hz)"}.get(fact, fact)
            cell = media_table[(LABEL[key], label)]
            assert sorted(cell.split(", ")) == sorted(f"{k}: {v}" for k, v in counts.items())

    groups_table = {r["dataset"]: r for r in tables["dataset|rows|rows with a group|distinct groups|rows per group"]}
    licence_table = {r["dataset"]: r for r in tables["dataset|catalog entry|licence|access"]}
    eval_table = {r["dataset"]: r for r in tables["dataset|rows|evaluation-split rows|rule|splits"]}
    lang_table = {r["language"]: r for r in tables["language|rows|share"]}
    lang_by_dataset = {r["dataset"]: r["languages (rows)"] for r in tables["dataset|languages (rows)"]}
    access = {"open": "open", "gated": "account/terms", "gated+mirror": "account/terms, or an open mirror",
              "opt_in": "opt-in (YouTube)", "local": "your local copy"}  # fmt: skip
    assert set(report["datasets"]) == set(exp["datasets"]) == set(groups_table)
    for name, e in exp["datasets"].items():
        got = report["datasets"][name]
        assert got["rows"] == e["rows"]
        assert got["groups"] == len(e["groups"]) and got["rows_with_group"] == e["with_group"]
        assert groups_table[name]["distinct groups"] == str(len(e["groups"]))
        assert groups_table[name]["rows with a group"] == str(e["with_group"])
        assert got["languages"] == dict(e["langs"]) and got["splits"] == dict(e["splits"])
        assert sorted(lang_by_dataset[name].split(", ")) == sorted(f"{k}: {v}" for k, v in e["langs"].items())
        assert got["eval_split"]["rows"] == e["eval"]
        assert set(got["eval_split"]["rule"].split("+")) == e["rules"]
        assert eval_table[name]["evaluation-split rows"] == str(e["eval"])
        assert set(eval_table[name]["rule"].split("+")) == e["rules"]
        try:
            spec = get_dataset(name)
        except ReapOmniError:
            licence, acc = "unknown", "unknown"
        else:
            licence, acc = spec.licence, access[availability(spec)]
        assert (got["licence"], got["access"]) == (licence, acc)
        assert (licence_table[name]["licence"], licence_table[name]["access"]) == (licence, acc)
    assert report["languages"] == dict(exp["languages"])
    assert {k: int(r["rows"]) for k, r in lang_table.items()} == dict(exp["languages"])
    assert report["eval_split"]["rows"] == sum(e["eval"] for e in exp["datasets"].values())
    assert f"**{report['eval_split']['rows']} of {rows} rows** come from evaluation splits" in md


def check_pngs(folder: Path, report: dict, stem: str = "report") -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    assert set(report["plots"]) == {"rows_hours", "durations"}
    for name, file in report["plots"].items():
        png = folder / file
        assert file == f"{stem}_{name}.png"
        data = png.read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC)
        image = plt.imread(png)  # decodes
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400


# -- the demo output ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "demo"
    assert run(["quickstart", "--demo", "--output", str(out), "--samples", "6", "--quiet"]) == 0
    return out


def _manifests(folder: Path) -> list[Path]:
    return [folder / "calibration" / f"{s}.jsonl" for s in ("audio", "video", "mixed")]


def test_report_on_the_demo_output_equals_a_recomputation(demo, capsys):
    assert run(["report", str(demo)]) == 0
    out = capsys.readouterr().out
    assert f"report: {demo / 'report.md'}" in out and "(18 rows," in out
    report = json.loads((demo / "report.json").read_text())
    md = (demo / "report.md").read_text()
    check_report(_manifests(demo), report, md)
    assert [m["rows"] for m in report["manifests"]] == [6, 6, 6]
    # the demo's rows carry groups (speakers, shards) and catalog names, so licences are known
    assert all(d["groups"] >= 1 and d["licence"] != "unknown" for d in report["datasets"].values())
    # every fact of every row is known, from the manifest or probed from the file
    for s in report["strata"].values():
        for fact, origin in s["media"]["origin"].items():
            assert sum(origin.values()) == s["rows"] and "unknown" not in origin, fact
    if report["plots_missing"] is None:
        check_pngs(demo, report)
        for file in report["plots"].values():
            assert f"]({file})" in md  # the markdown shows the plots
    else:
        assert report["plots_missing"] in md


def test_report_reruns_from_its_probe_cache_and_probes_what_changed(demo, tmp_path):
    out = tmp_path / "r.md"
    assert run(["report", str(demo), "-o", str(out), "-q"]) == 0
    first = json.loads(out.with_suffix(".json").read_text())
    probed = first["probe"]["probed_files"]
    assert probed > 0 and first["probe"]["cached_files"] == 0  # the demo rows do not record channels
    assert run(["report", str(demo), "-o", str(out), "-q"]) == 0
    again = json.loads(out.with_suffix(".json").read_text())
    assert again["probe"] == {"enabled": True, "probed_files": 0, "cached_files": probed}
    assert again["strata"] == first["strata"]
    # a file that changed is probed again
    wav = next((demo / "librispeech").glob("*.wav"))
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert run(["report", str(demo), "-o", str(out), "-q"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["probe"]["probed_files"] == 1
    # --no-probe: facts no row gives are unknown
    assert run(["report", str(demo), "-o", str(tmp_path / "np.md"), "--no-probe", "--no-plots", "-q"]) == 0
    bare = json.loads((tmp_path / "np.json").read_text())
    assert bare["probe"]["probed_files"] == 0
    for key, s in bare["strata"].items():  # a fact the manifest lacks is unknown, the others are as before
        for fact, origin in s["media"]["origin"].items():
            assert origin.get("unknown", 0) == first["strata"][key]["media"]["origin"][fact].get("probed", 0)
    assert bare["plots"] == {} and not list(tmp_path.glob("np_*.png"))


def test_report_accepts_the_calibration_folder_or_one_manifest(demo, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo / "calibration", copy / "calibration")
    assert run(["report", str(copy / "calibration"), "-q"]) == 0
    inner = json.loads((copy / "calibration" / "report.json").read_text())
    assert inner["totals"]["rows"] == 18
    assert run(["report", str(copy / "calibration" / "video.jsonl"), "-q", "--no-plots"]) == 0
    single = json.loads((copy / "calibration" / "video_report.json").read_text())
    check_report([copy / "calibration" / "video.jsonl"], single, (copy / "calibration" / "video_report.md").read_text())
    assert set(single["strata"]) == {"S2"} and single["totals"]["rows"] == 6
    # --output as a folder gets report.md inside
    (tmp_path / "elsewhere").mkdir()
    assert run(["report", str(copy), "-o", str(tmp_path / "elsewhere"), "-q", "--no-plots"]) == 0
    assert (tmp_path / "elsewhere" / "report.md").is_file() and (tmp_path / "elsewhere" / "report.json").is_file()
    capsys.readouterr()
    assert run(["report", str(tmp_path / "nothing-here")]) == 2
    assert "nothing-here: not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run(["report", str(tmp_path / "empty")]) == 2
    assert "no manifests found" in capsys.readouterr().err


# -- a folder assembled by hand ----------------------------------------------------------------------------
def test_report_on_a_folder_assembled_by_hand_with_convert(tmp_path):
    from reap_omni.fixtures.media import make_audio, make_video

    media = tmp_path / "media"
    media.mkdir()
    make_audio(media / "a1.wav", seconds=1.5, sample_rate=8000, channels=2, fmt="wav")
    make_audio(media / "a2.flac", seconds=0.5, sample_rate=22050, channels=1, fmt="flac", seed=1)
    make_audio(media / "a3.wav", seconds=2.0, sample_rate=8000, channels=1, fmt="wav", seed=2)
    make_video(media / "v1.mp4", seconds=1.0, width=32, height=24, fps=5, with_audio=False)
    make_video(media / "v2.mp4", seconds=2.0, width=48, height=32, fps=8, with_audio=True, audio_rate=44100,
               audio_channels=2)  # fmt: skip
    (tmp_path / "audio.csv").write_text("id,text,audio\nu1,hello,media/a1.wav\nu2,world,media/a2.flac\n"
                                        "u3,again,media/a3.wav\n")  # fmt: skip
    (tmp_path / "video.csv").write_text("id,text,video\nc1,a clip,media/v1.mp4\n")
    (tmp_path / "mixed.csv").write_text("id,text,video\nm1,talking,media/v2.mp4\n")
    cal = tmp_path / "hand" / "calibration"
    assert run(["csv", str(tmp_path / "audio.csv"), str(cal / "audio.jsonl"), "--name", "mycorpus",
                "--split", "test", "--lang", "en", "--task", "asr"]) == 0  # fmt: skip
    assert run(["csv", str(tmp_path / "video.csv"), str(cal / "video.jsonl"), "--name", "MSR-VTT",
                "--split", "train"]) == 0  # fmt: skip
    assert run(["csv", str(tmp_path / "mixed.csv"), str(cal / "mixed.jsonl"), "--name", "clips", "--modality",
                "mixed", "--split", "Validation.other", "--lang", "zh"]) == 0  # fmt: skip
    # one row written by hand: a relative path, its own facts, and an eval_split flag that wins over the split
    with open(cal / "audio.jsonl", "a") as f:
        f.write(json.dumps({"id": "h1", "modality": "audio", "text": "x", "audio": "../../media/a1.wav",
                            "duration": 3.0, "lang": "en", "meta": {"sample_rate": 44100, "channels": 2},
                            "source": {"dataset": "mycorpus", "split": "test", "eval_split": False,
                                       "group": "spk1"}}) + "\n")  # fmt: skip
    assert run(["report", str(tmp_path / "hand"), "-q"]) == 0
    folder = tmp_path / "hand"
    report = json.loads((folder / "report.json").read_text())
    md = (folder / "report.md").read_text()
    check_report([cal / "audio.jsonl", cal / "video.jsonl", cal / "mixed.jsonl"], report, md)
    s1 = report["strata"]["S1"]
    assert s1["rows"] == 4 and s1["durations"]["probed"] == 3 and s1["durations"]["from_manifest"] == 1
    assert s1["seconds"] == pytest.approx(1.5 + 0.5 + 2.0 + 3.0, abs=0.01)
    assert s1["media"]["facts"]["sample_rate"] == {"8000": 2, "22050": 1, "44100": 1}
    assert s1["media"]["facts"]["channels"] == {"1": 2, "2": 2}
    assert s1["media"]["formats"] == {"audio:wav": 3, "audio:flac": 1}
    corpus = report["datasets"]["mycorpus"]
    assert corpus["eval_split"] == {"rows": 3, "rule": "flag+split", "by_rule": {"flag": 1, "split": 3}}
    assert (corpus["licence"], corpus["access"], corpus["catalog"]) == ("unknown", "unknown", None)
    assert corpus["groups"] == 1 and corpus["rows_with_group"] == 1
    assert report["datasets"]["MSR-VTT"]["catalog"] == "msrvtt"  # an alias finds the catalog entry
    assert report["datasets"]["MSR-VTT"]["eval_split"]["rows"] == 0
    s3 = report["strata"]["S3"]["media"]["facts"]
    assert s3 == {"sample_rate": {"44100": 1}, "channels": {"2": 1}, "resolution": {"48x32": 1}, "fps": {"8": 1}}
    assert report["eval_split"]["rows"] == 3 and report["languages"] == {"en": 4, "zh": 1, "unknown": 1}
    if report["plots_missing"] is None:
        check_pngs(folder, report)


def test_missing_media_is_counted_not_fatal(tmp_path):
    cal = tmp_path / "calibration"
    cal.mkdir()
    (cal / "audio.jsonl").write_text(json.dumps({"id": "a", "modality": "audio", "audio": str(tmp_path / "gone.wav"),
                                                 "source": {"dataset": "x"}}) + "\n")  # fmt: skip
    assert run(["report", str(tmp_path), "-q", "--no-plots"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    s1 = report["strata"]["S1"]
    assert s1["durations"] == {"known": 0, "from_manifest": 0, "probed": 0, "unknown": 1}
    assert s1["media"]["problems"] == {"not_found": 1}
    assert "could not be probed" in (tmp_path / "report.md").read_text()


# -- errors and missing matplotlib -------------------------------------------------------------------------
def test_a_malformed_line_is_one_error_naming_file_and_line(tmp_path, capsys):
    cal = tmp_path / "calibration"
    cal.mkdir()
    good = json.dumps({"id": "a", "modality": "text", "text": "hi"})
    (cal / "audio.jsonl").write_text(f"{good}\n\n{{not json\n")
    assert run(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"reap-omni: error: {cal / 'audio.jsonl'}:3: malformed JSON") and "\n" not in err
    (cal / "audio.jsonl").write_text(f"{good}\n" + json.dumps({"id": 5, "modality": "audio"}) + "\n")
    assert run(["report", str(tmp_path)]) == 2
    assert "audio.jsonl:2: field 'id': expected str, got int" in capsys.readouterr().err
    assert not list(tmp_path.glob("report*")) and not list(tmp_path.glob(".*tmp-*"))  # nothing half-written


def test_a_malformed_line_exits_without_a_traceback(tmp_path):
    import subprocess
    import sys

    (tmp_path / "m.jsonl").write_text('{"id": "a", "modality": "audio"}\n')
    proc = subprocess.run([sys.executable, "-m", "reap_omni", "report", str(tmp_path / "m.jsonl")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{tmp_path / 'm.jsonl'}:1: modality 'audio' needs an 'audio' path" in proc.stderr


def test_without_matplotlib_the_markdown_says_how_to_get_the_plots(demo, tmp_path, monkeypatch, capsys):
    import sys

    from reap_omni.install_hint import install_command

    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "r.md"
    assert run(["report", str(demo), "-o", str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and install_command("prune") in err[0] and "matplotlib" in err[0]
    md = out.read_text()
    assert install_command("prune") in md and ".png)" not in md
    assert not list(tmp_path.glob("*.png"))
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["plots"] == {} and install_command("prune") in report["plots_missing"]
    check_report(_manifests(demo), report, md)


@pytest.mark.parametrize(
    "source,expected",
    [
        ({"eval_split": True}, (True, "flag")),
        ({"eval_split": False, "split": "test"}, (False, "flag")),  # the flag wins over the split name
        ({"split": "test"}, (True, "split")),
        ({"split": "test.clean"}, (True, "split")),
        ({"split": "EVAL"}, (True, "split")),
        ({"split": "dev-other"}, (False, "split")),  # the catalog calibrates on dev where there is no train
        ({"split": "validation"}, (False, "split")),
        ({"split": "train.100"}, (False, "split")),
        ({"split": "trainval"}, (False, "split")),
        ({"split": ""}, (None, "none")),
        ({"dataset": "x"}, (None, "none")),
        (None, (None, "none")),
    ],
)
def test_evaluation_split_rule(source, expected):
    from reap_omni.report.summary import eval_split_of

    assert eval_split_of(source) == expected
