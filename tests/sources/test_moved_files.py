"""Sources find files that moved: a named file or glob (or the metadata file) that matches nothing is looked for by
name in the repo tree at the same commit. One folder holding it: used, with a one-line note, the real path in the
lock and the same fix from ``probe``. Several: refused, listing them. Built on the fixture Hub, with the layout of
``ProgramComputer/voxceleb`` after its 'Foldered' commit (files moved into ``vox1/`` and ``vox2/``)."""

from __future__ import annotations

import json

import msgspec
import pytest

from reap_omni.catalog.registry import get_dataset
from reap_omni.catalog.spec import SourceSpec
from reap_omni.cli import run
from reap_omni.fixtures.repos import add_spec_fixture, audio_clip, table_bytes, tar_bytes, zip_bytes
from reap_omni.manifest.lock import read_lock
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.factory import open_source
from reap_omni.sources.http import HttpClient
from reap_omni.sources.hub import resolve_repo
from reap_omni.sources.probe import probe_source

OLD_ROOT = "--source-option", "voxceleb:0:files=vox2_test_mp4.zip"  # the catalog fact before the move


def test_voxceleb_zip_moved_into_a_folder_is_used_with_one_line_and_locked(hub_server, tmp_path, capsys):
    spec = get_dataset("voxceleb").sources[0]
    assert spec.files == ("vox2/vox2_test_mp4.zip",)  # where it is now
    add_spec_fixture(hub_server, spec, members=6)
    out = tmp_path / "out"
    assert run(["download", "-d", "voxceleb", "-o", str(out), "-n", "3", *OLD_ROOT]) == 0
    err = capsys.readouterr().err
    moved = [line for line in err.splitlines() if "moved to" in line]
    assert moved == ["reap-omni: voxceleb: vox2_test_mp4.zip moved to vox2/vox2_test_mp4.zip; using it (pin with "
                     "--source-option voxceleb:0:files=vox2/vox2_test_mp4.zip)"]
    rows = read_lock(out / "calibration" / "manifest.lock.json").rows
    assert len(rows) == 3 and {r.source["file"] for r in rows} == {"vox2/vox2_test_mp4.zip"}


def test_probe_reports_the_same_fix(hub_server, capsys):
    spec = get_dataset("voxceleb").sources[0]
    add_spec_fixture(hub_server, spec, members=4)
    old = msgspec.structs.replace(spec, files=("vox2_test_mp4.zip",))
    r = probe_source(get_dataset("voxceleb"), 0, old)
    assert r.ok and r.fixes == ["voxceleb:0:files=vox2/vox2_test_mp4.zip"]
    assert any(n.startswith("vox2_test_mp4.zip moved to vox2/vox2_test_mp4.zip") for n in r.notes)
    assert run(["probe", "voxceleb", *OLD_ROOT]) == 0
    assert "pin: --source-option voxceleb:0:files=vox2/vox2_test_mp4.zip" in capsys.readouterr().out


def test_moved_metadata_file_is_found_too(hub_server, caplog):
    """VoxCeleb1: the zip and vox1_meta.csv both moved into vox1/; one line names both and both pins."""
    spec = get_dataset("voxceleb1").sources[0]
    add_spec_fixture(hub_server, spec, members=4)
    assert "vox1/vox1_meta.csv" in hub_server.repos[spec.repo].branches["main"]
    old = msgspec.structs.replace(spec, files=("vox1_test_wav.zip",), metadata="vox1_meta.csv")
    src = open_source(old, dataset="voxceleb1")
    assert src.units() and src.repo.moved == (("vox1_test_wav.zip", "vox1/vox1_test_wav.zip"),
                                              ("vox1_meta.csv", "vox1/vox1_meta.csv"))
    assert [r.getMessage() for r in caplog.records if "moved to" in r.getMessage()] == [
        "voxceleb1: vox1_test_wav.zip moved to vox1/vox1_test_wav.zip, vox1_meta.csv moved to vox1/vox1_meta.csv; "
        "using them (pin with --source-option voxceleb1:0:files=vox1/vox1_test_wav.zip "
        "--source-option voxceleb1:0:metadata=vox1/vox1_meta.csv)"]
    r = probe_source(get_dataset("voxceleb1"), 0, old)
    assert r.ok and r.fixes == ["voxceleb1:0:files=vox1/vox1_test_wav.zip", "voxceleb1:0:metadata=vox1/vox1_meta.csv"]


def test_only_the_metadata_moved_in_a_tar_source(hub_server, caplog):
    """The archives are where the catalog says; the annotation file went into a sub-folder: found, one note."""
    members = [(f"wav/utt{i}.wav", audio_clip(i, "wav")) for i in range(4)]
    hub_server.add_repo("org/moved-meta", {
        "data/part_0.tar.gz": tar_bytes(members),
        "annotations/v2/asr.tsv": table_bytes([{"id": f"utt{i}", "text": f"text {i}"} for i in range(4)], "asr.tsv"),
    })
    spec = SourceSpec(kind="hf_tar", repo="org/moved-meta", split="train", files=("data/*.tar.gz",), metadata="asr.tsv",
                      columns={"audio": "id", "text": "text", "id": "id"},
                      options={"metadata_format": "tsv", "member_template": "{id}.wav", "member_match": "stem"})
    src = open_source(spec, dataset="moved")
    units = src.units()
    assert len(units) == 1 and src.metadata.name == "annotations/v2/asr.tsv"
    assert [c.fields["text"] for c in src.read(units[0])] == [f"text {i}" for i in range(4)]
    notes = [r.getMessage() for r in caplog.records if "moved to" in r.getMessage()]
    assert notes == ["moved: asr.tsv moved to annotations/v2/asr.tsv; using it (pin with "
                     "--source-option moved:0:metadata=annotations/v2/asr.tsv)"]


def test_two_candidates_are_refused_and_both_listed(hub_server, capsys):
    zipped = zip_bytes([("id00001/a/00001.mp4", b"x" * 10)])
    hub_server.add_repo("org/twice", {"vox2/vox2_test_mp4.zip": zipped, "backup/vox2_test_mp4.zip": zipped})
    spec = SourceSpec(kind="zip_range", repo="org/twice", split="test", eval_split=True, files=("vox2_test_mp4.zip",),
                      text_template="", options={"member_glob": "*.mp4"})
    with pytest.raises(SourceUnavailable) as exc:
        resolve_repo(HttpClient(), spec, spec.files, dataset="twice", relocate=True)
    text = str(exc.value)
    assert exc.value.reason == "layout" and "\n" not in text
    assert "backup/vox2_test_mp4.zip, vox2/vox2_test_mp4.zip" in text and "--source-option twice:0:files=<path>" in text
    # the build refuses the same way, and nothing is read from either zip
    hub_server.reset_counters()
    with pytest.raises(SourceUnavailable, match="is in 2 folders"):
        open_source(spec, dataset="twice").units()
    assert hub_server.bytes_served("*/resolve/*") == 0


def test_a_file_found_nowhere_keeps_the_old_error(hub_server):
    hub_server.add_repo("org/gone", {"README.md": b"nothing here\n", "other/x.zip": zip_bytes([("a.mp4", b"x")])})
    spec = SourceSpec(kind="zip_range", repo="org/gone", files=("vox2_test_mp4.zip",), text_template="")
    with pytest.raises(SourceUnavailable, match=r"no file of org/gone@main matches \['vox2_test_mp4.zip'\]"):
        resolve_repo(HttpClient(), spec, spec.files, dataset="gone", relocate=True)


def test_a_moved_pin_with_several_files_keeps_the_others():
    from reap_omni.sources.hub import _move_pins

    spec = SourceSpec(kind="zip_range", repo="o/r", files=("a.zip", "keep/b.zip"))
    assert _move_pins(spec, {"a.zip": "new/a.zip"}) == ("files=new/a.zip,keep/b.zip",)
    comma = SourceSpec(kind="zip_range", repo="o/r", files=("a,1.zip",))
    assert _move_pins(comma, {"a,1.zip": "n/a,1.zip"}) == (f"files={json.dumps(['n/a,1.zip'])}",)
