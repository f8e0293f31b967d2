"""output_guard: every refusal class on plain folders, paths resolved before comparing, stale temps of killed
writers removed (a set renamed aside put back), and the folder swap that never shows a mix."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reap_omni.fileio import commit_folder, remove_stale_temps, staged_folder
from reap_omni.output_guard import (
    OutputRefused,
    guard_outputs,
    manifest_inputs,
    replaced_folder,
    written_file,
    written_folder,
)


def _tree_hash(*roots: Path) -> dict[str, str]:
    """Every file and folder under ``roots`` -> sha256 of its bytes ('dir' for folders)."""
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            out[str(p)] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _is_ours(folder: Path) -> bool:
    return (folder / "ours.json").is_file()


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """A model folder, a data folder (manifest + media, one media file in a folder of its own), a previous
    output and a folder of the user's own files."""
    model = tmp_path / "models" / "m"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    data = tmp_path / "data"
    (data / "far").mkdir(parents=True)
    (data / "a.wav").write_bytes(b"RIFF")
    (data / "far" / "b.wav").write_bytes(b"RIFF2")
    rows = [{"id": "a", "modality": "audio", "audio": "a.wav", "text": "x"},
            {"id": "b", "modality": "audio", "audio": str(data / "far" / "b.wav"), "text": "y"}]
    (data / "audio.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prev = tmp_path / "prev"
    prev.mkdir()
    (prev / "ours.json").write_text("{}")
    mine = tmp_path / "home"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    return {"root": tmp_path, "model": model, "data": data, "manifest": data / "audio.jsonl", "prev": prev,
            "mine": mine}


def _guard(world, *outputs, overwrite=False, **kw):
    inputs = manifest_inputs("--audio-data", world["manifest"])
    return guard_outputs(list(outputs), model_dirs=[("--model-path", world["model"])], inputs=inputs,
                         overwrite=overwrite, **kw)


def _out(path, flag="--output-path"):
    return replaced_folder(path, flag, _is_ours)


REFUSED = [
    ("is the model folder", lambda w: [_out(w["model"])], "is --model-path"),
    ("the model's parent", lambda w: [_out(w["model"].parent)], "contains --model-path"),
    ("inside the model", lambda w: [_out(w["model"] / "sub")], "lies inside --model-path"),
    ("via '..'", lambda w: [_out(w["model"] / "x" / ".." / ".." / "m")], "is --model-path"),
    ("the data folder", lambda w: [_out(w["data"])], "contains the --audio-data manifest"),
    ("a media folder only row 2 uses", lambda w: [_out(w["data"] / "far")], "contains a media file of --audio-data"),
    ("a non-empty foreign folder", lambda w: [_out(w["mine"])], "holds files reap-omni did not write (notes.txt)"),
    ("a file where a folder goes", lambda w: [_out(w["mine"] / "notes.txt")], "is a file"),
    ("scores over the model's config", lambda w: [written_file(w["model"] / "config.json", "--scores-out")],
     "lies inside --model-path"),
    ("scores over the manifest", lambda w: [written_file(w["manifest"], "--scores-out")], "is the --audio-data"),
    ("scores over a file of the user", lambda w: [written_file(w["mine"] / "notes.txt", "--scores-out", _is_ours)],
     "was not written by reap-omni"),
    ("scores inside the replaced output", lambda w: [_out(w["root"] / "o"), written_file(w["root"] / "o" / "s.json",
                                                                                         "--scores-out")],
     "lies inside --output-path"),
    ("checkpoints in the model folder", lambda w: [written_folder(w["model"], "--checkpoint-dir")], "is --model-path"),
    ("offload into the data folder", lambda w: [written_folder(w["data"], "--offload-folder")], "contains the"),
    ("checkpoints inside the replaced output", lambda w: [_out(w["root"] / "o"),
                                                          written_folder(w["root"] / "o" / "ck", "--checkpoint-dir")],
     "replaced as a whole"),
    ("two outputs on one path", lambda w: [written_file(w["root"] / "s.json", "--scores-out"),
                                           written_file(w["root"] / "s.json", "--other")], "are the same path"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_each_refusal_leaves_every_file_untouched(world, case):
    _, outputs, message = case
    before = _tree_hash(world["root"])
    with pytest.raises(OutputRefused, match=re.escape(message)) as info:
        _guard(world, *outputs(world), overwrite=True)
    assert "\n" not in str(info.value)
    assert _tree_hash(world["root"]) == before


def test_previous_output_needs_overwrite_and_empty_or_new_folders_do_not(world):
    with pytest.raises(OutputRefused, match="pass --overwrite"):
        _guard(world, _out(world["prev"]))
    assert _guard(world, _out(world["prev"]), overwrite=True) == [world["prev"]]
    (world["root"] / "empty").mkdir()
    _guard(world, _out(world["root"] / "empty"), _out(world["root"] / "new" / "deeper"))
    # an output may lie inside a data folder: it replaces nothing there
    _guard(world, _out(world["data"] / "pruned"), written_folder(world["data"] / "ck", "--checkpoint-dir"))


def test_symlinks_and_hard_links_count_as_the_input(world):
    link = world["root"] / "link"
    link.symlink_to(world["model"])
    with pytest.raises(OutputRefused, match="is --model-path"):
        _guard(world, _out(link), overwrite=True)
    with pytest.raises(OutputRefused, match="lies inside --model-path"):
        _guard(world, written_file(link / "config.json", "--scores-out"))
    hard = world["root"] / "hard.jsonl"
    os.link(world["manifest"], hard)
    with pytest.raises(OutputRefused, match="is the --audio-data manifest"):
        _guard(world, written_file(hard, "--scores-out", lambda _p: True))
    # a media file that is a symlink: both the folder of the link and the folder of its target hold the input
    elsewhere = world["root"] / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "c.wav").write_bytes(b"RIFF3")
    (world["data"] / "c.wav").symlink_to(elsewhere / "c.wav")
    with world["manifest"].open("a") as f:
        f.write(json.dumps({"id": "c", "modality": "audio", "audio": "c.wav", "text": "z"}) + "\n")
    with pytest.raises(OutputRefused, match="contains a media file of --audio-data"):
        _guard(world, _out(elsewhere), overwrite=True)
    # an output that is a symlink to a fresh folder resolves to that folder
    target = world["root"] / "target"
    (world["root"] / "to-target").symlink_to(target)
    assert _guard(world, _out(world["root"] / "to-target")) == [target]


def test_dot_resolves_to_the_working_folder_which_is_never_swapped_away(world, monkeypatch):
    work = world["root"] / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work / "sub")
    for dot in (".", ".."):
        with pytest.raises(OutputRefused, match="is or holds the working folder"):
            _guard(world, _out(dot))
    assert _guard(world, _out("../new"), written_file("s.json", "--scores-out")) == [work / "new", work / "sub" /
                                                                                     "s.json"]
    monkeypatch.chdir(world["model"])
    with pytest.raises(OutputRefused, match="is --model-path"):
        _guard(world, _out("."), overwrite=True)
    with pytest.raises(OutputRefused, match="is empty"):
        _guard(world, _out(""))


def test_bind_mounted_model_is_recognised_and_a_mount_point_is_not_swapped(world, mounts):
    view = world["root"] / "view"
    view.mkdir()
    if not mounts.run("--bind", str(world["model"]), str(view)):
        pytest.skip("needs root and bind mounts")
    mounts.mounted.append(view)
    with pytest.raises(OutputRefused, match="is --model-path"):
        _guard(world, _out(view), overwrite=True)
    with pytest.raises(OutputRefused, match="lies inside --model-path"):
        _guard(world, _out(view / "sub"))
    disk = mounts.tmpfs("64k")
    with pytest.raises(OutputRefused, match="mount point"):
        _guard(world, _out(disk))


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_stale_temp_folders_go_and_a_set_left_aside_comes_back(world):
    root, pid = world["root"], _dead_pid()
    (root / f".out.tmp-{pid}-00ff").mkdir()
    (root / f".out.tmp-{pid}-00ff" / "model-00001.safetensors").write_bytes(b"partial")
    (root / f".s.json.tmp-{pid}-abcd").write_text("partial")
    live = root / f".out.tmp-{os.getpid()}-1234"
    live.mkdir()
    aside = root / f".prev.old-{pid}"  # killed between its two renames: the previous set is aside, prev is gone
    world["prev"].rename(aside)
    lines: list[str] = []
    _guard(world, _out(root / "prev"), written_file(root / "s.json", "--scores-out"), overwrite=True,
           log=lines.append)
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [".out.tmp-" + live.name.split(".tmp-")[1], "data", "home", "models", "prev"])
    assert (root / "prev" / "ours.json").is_file() and len(lines) == 3
    assert any("restored" in line and "prev" in line for line in lines)
    # once the new set is in place, a set left aside is deleted instead; one beside another name is not ours
    (root / "prev2").mkdir()
    (root / f".prev2.old-{pid}").mkdir()
    (root / f".notes.old-{pid}").mkdir()
    assert remove_stale_temps(root, outputs=["prev2"]) == 1 and not (root / f".prev2.old-{pid}").exists()
    assert remove_stale_temps(root) == 0 and (root / f".notes.old-{pid}").is_dir()


def test_a_staged_set_replaces_the_old_one_whole_or_not_at_all(tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "b.txt").write_text("old b")
    with pytest.raises(RuntimeError), staged_folder(out) as tmp:
        (tmp / "a.txt").write_text("new a")
        raise RuntimeError("killed mid-write")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "old a", "b.txt": "old b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]
    with staged_folder(out) as tmp:
        (tmp / "a.txt").write_text("new a")
        (tmp / "b.txt").write_text("new b")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "new a", "b.txt": "new b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]
    # the swap of a new folder where none was
    fresh = tmp_path / "fresh"
    staging = tmp_path / ".fresh.tmp-1-00"
    staging.mkdir()
    commit_folder(staging, fresh)
    assert fresh.is_dir() and not staging.exists()


#: every kind of output, built in ``folder``: what prune, eval and heal write
WRITES = {
    "replaced folder": lambda folder: _out(folder / "o"),
    "existing empty folder replaced": lambda folder: _out(folder / "empty"),
    "folder written into": lambda folder: written_folder(folder / "ck", "--checkpoint-dir"),
    "file": lambda folder: written_file(folder / "s.json", "--scores-out"),
}


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_an_output_that_cannot_be_written_is_refused_before_the_run(world, mounts, kind):
    src = world["root"] / "src"
    (src / "empty").mkdir(parents=True)
    view = mounts.read_only_view(src)
    output = WRITES[kind](view)
    with pytest.raises(OutputRefused, match=re.escape(f"{output.flag} {output.path} cannot be written")) as info:
        _guard(world, output)
    assert "read-only file system" in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in src.iterdir()) == ["empty"]  # the probe is gone


def test_a_folder_no_file_can_be_created_in_is_refused(world):
    with pytest.raises(OutputRefused, match="cannot be written"):
        _guard(world, _out("/proc/self/pruned"))


def test_a_bind_mount_of_the_same_disk_is_a_mount_point(world, mounts):
    src, view = world["root"] / "src", world["root"] / "view"
    src.mkdir()
    view.mkdir()
    if not mounts.run("--bind", str(src), str(view)):
        pytest.skip("needs root and bind mounts")
    mounts.mounted.append(view)
    assert not os.path.ismount(view)  # why the guard reads /proc/self/mountinfo
    with pytest.raises(OutputRefused, match="mount point"):
        _guard(world, _out(view))


def test_an_output_larger_than_the_free_space_is_refused(world, mounts):
    from reap_omni.output_guard import check_space

    disk = mounts.tmpfs("64k")
    with pytest.raises(OutputRefused, match=r"--output-path .*/out needs about 1.0 MB, but .* free; free some space"):
        check_space(_out(disk / "out"), 10**6)
    check_space(_out(disk / "out"), 1000)  # fits


def test_a_manifest_that_is_no_regular_file_is_not_read(world):
    fifo = world["root"] / "audio.jsonl"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    assert manifest_inputs("--audio-data", fifo) == [("the --audio-data manifest", fifo)]
    assert manifest_inputs("--audio-data", "/dev/zero") == [("the --audio-data manifest", Path("/dev/zero"))]
