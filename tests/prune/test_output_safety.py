"""prune and eval never destroy the user's files: every refusal class of the output guard through the CLI (model
folder and data hashed before and after), ``--output-path .``, and kills mid-surgery (SIGKILL, SIGTERM, between
the two renames of the swap) in a real subprocess, paused at a chosen point so the kill does not depend on
timing; the rerun removes what the killed run left and writes the exact output."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from model_helpers import launch_env

from reap_omni.cli import run
from reap_omni.fixtures.media import make_audio, make_video
from reap_omni.prune.observer import StratumStats
from reap_omni.prune.scores import Scores, save_scores, select
from reap_omni.prune.surgery import prune_checkpoint

#: Runs the CLI with one function wrapped to write a marker file and wait, at the point named by PAUSE_AT.
PAUSING_CLI = """
import os, runpy, sys, time
import reap_omni.prune.surgery as surgery

def pause():
    with open(os.environ["PAUSE_MARKER"], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)

if os.environ["PAUSE_AT"] == "shard":  # after the second shard of the new checkpoint is written
    real_write, written = surgery.write_shard, []
    def write_shard(*args, **kwargs):
        size = real_write(*args, **kwargs)
        written.append(size)
        if len(written) == 2:
            pause()
        return size
    surgery.write_shard = write_shard
else:  # between the two renames of the swap: the previous output is aside, the new one not yet in place
    real_rename = os.rename
    def rename(src, dst, *args, **kwargs):
        real_rename(src, dst, *args, **kwargs)
        if ".old-" in os.fspath(dst):
            pause()
    os.rename = rename
sys.argv = ["reap-omni", *sys.argv[1:]]
runpy.run_module("reap_omni", run_name="__main__")
"""


def _hashes(*roots: Path) -> dict[str, str]:
    """Relative path -> sha256 (folders: 'dir') of everything under each root, keyed by the root's name."""
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            out[f"{root.name}/{p.relative_to(root)}"] = "dir" if p.is_dir() else hashlib.sha256(
                p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def data_template(tmp_path_factory) -> Path:
    """Manifests over generated media; the third audio row's file sits in a folder no calibration row uses."""
    root = tmp_path_factory.mktemp("safety-data") / "data"
    (root / "far").mkdir(parents=True)
    audio = []
    for i in range(3):
        path = (root / "far" if i == 2 else root) / f"a{i}.wav"
        make_audio(path, seconds=0.6, fmt="wav", freq=300.0 + 100 * i, seed=i)
        audio.append({"id": f"a{i}", "modality": "audio", "audio": str(path.relative_to(root)), "text": f"t{i}"})
    make_video(root / "v0.mp4", seconds=1.0, with_audio=False, seed=1)
    make_video(root / "m0.mp4", seconds=1.0, with_audio=True, seed=2)
    rows = {"audio": audio, "video": [{"id": "v0", "modality": "video", "video": "v0.mp4", "text": "v"}],
            "mixed": [{"id": "m0", "modality": "mixed", "video": "m0.mp4", "has_audio": True, "text": "m"}]}
    for name, part in rows.items():
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return root


def _scores(seed: int) -> tuple[Scores, object]:
    g = torch.Generator().manual_seed(seed)
    strata = {s: StratumStats(torch.rand(4, 8, generator=g, dtype=torch.float64) * 5,
                              torch.randint(1, 40, (4, 8), generator=g), torch.full((4,), 80))
              for s in ("S1", "S2", "S3")}
    sc = Scores("thinker", [0, 1, 2, 3], 8, 2, strata, {})
    return sc, select(sc, 1.0, 1.0, 0.5)


@pytest.fixture
def world(tiny_ckpt, data_template, tmp_path) -> dict[str, Path]:
    """This test's own copies: a model folder, the data, saved scores, a pruned folder and a folder of the user's."""
    model = tmp_path / "models" / "tiny"
    shutil.copytree(tiny_ckpt, model)
    data = tmp_path / "data"
    shutil.copytree(data_template, data)
    sc, sel = _scores(3)
    scores = tmp_path / "scores" / "scores.json"
    scores.parent.mkdir()
    save_scores(scores, sc, sel)
    pruned = tmp_path / "pruned"
    prune_checkpoint(model, pruned, "thinker", {layer: sel.kept[i].tolist() for i, layer in enumerate(sc.layers)},
                     add_files=lambda folder: save_scores(folder / "reap_omni" / "scores.json", sc, sel))
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("the user's own file")
    os.link(data / "audio.jsonl", tmp_path / "hardlink.json")
    (tmp_path / "model-link").symlink_to(model)
    return {"root": tmp_path, "model": model, "data": data, "scores": scores, "pruned": pruned, "home": home}


def _strata(w) -> list[str]:
    return ["--audio-data", str(w["data"] / "audio.jsonl"), "--video-data", str(w["data"] / "video.jsonl"),
            "--mixed-data", str(w["data"] / "mixed.jsonl"), "--calibration-samples", "2"]


def _prune(w, *extra) -> list[str]:
    return ["prune", "--model-path", str(w["model"]), *_strata(w), "--quiet", *extra]


def _eval(w, *extra) -> list[str]:
    return ["eval", "--model", str(w["model"]), "--audio-data", str(w["data"] / "audio.jsonl"), "--samples", "1",
            "--methods", "", "--max-new-tokens", "0", "--video-max-pixels", "4096", "--quiet", *extra]


REFUSALS = {
    "output is the model's parent": (lambda w: _prune(w, "--output-path", str(w["model"].parent), "--overwrite"),
                                     "contains --model-path"),
    "output is the model": (lambda w: _prune(w, "--output-path", str(w["model"]), "--overwrite"), "is --model-path"),
    "output inside the model": (lambda w: _prune(w, "--output-path", str(w["model"] / "pruned")),
                                "lies inside --model-path"),
    "output is a link to the model": (lambda w: _prune(w, "--output-path", str(w["root"] / "model-link"),
                                                       "--overwrite"), "is --model-path"),
    "output through '..'": (lambda w: _prune(w, "--output-path", str(w["data"] / ".." / "models"), "--overwrite"),
                            "contains --model-path"),
    "output is the data folder": (lambda w: _prune(w, "--output-path", str(w["data"]), "--overwrite"),
                                  "contains the --audio-data manifest"),
    "output holds only an unused row's media": (lambda w: _prune(w, "--output-path", str(w["data"] / "far"),
                                                                 "--overwrite"), "a media file of --audio-data"),
    "output is a folder of the user's": (lambda w: _prune(w, "--output-path", str(w["home"]), "--overwrite"),
                                         "holds files reap-omni did not write"),
    "scores over the model's config": (lambda w: _prune(w, "--dry-run", "--scores-out",
                                                        str(w["model"] / "config.json")), "lies inside --model-path"),
    "scores over a hard link to a manifest": (lambda w: _prune(w, "--dry-run", "--scores-out",
                                                               str(w["root"] / "hardlink.json")),
                                              "is the --audio-data manifest"),
    "scores over a file of the user's": (lambda w: _prune(w, "--dry-run", "--scores-out",
                                                          str(w["home"] / "notes.txt")),
                                         "was not written by reap-omni"),
    "checkpoints in the model folder": (lambda w: _prune(w, "--output-path", str(w["root"] / "o"),
                                                         "--checkpoint-dir", str(w["model"])), "is --model-path"),
    "offload into the data folder": (lambda w: _prune(w, "--output-path", str(w["root"] / "o"), "--offload-folder",
                                                      str(w["data"])), "contains the --audio-data manifest"),
    "output inside --from-scores": (lambda w: ["prune", "--model-path", str(w["model"]), "--from-scores",
                                               str(w["pruned"]), "--output-path", str(w["pruned"] / "again")],
                                    "lies inside --from-scores"),
    "eval output is the model": (lambda w: _eval(w, "--output", str(w["model"])), "is --model"),
    "eval output is the data folder": (lambda w: _eval(w, "--output", str(w["data"])), "contains the --audio-data"),
    "eval output is a folder of the user's": (lambda w: _eval(w, "--output", str(w["home"])),
                                              "holds files reap-omni did not write"),
    "eval output inside --pruned": (lambda w: _eval(w, "--pruned", str(w["pruned"]), "--output",
                                                    str(w["pruned"] / "eval")), "lies inside --pruned"),
    "eval offload into the model": (lambda w: _eval(w, "--output", str(w["root"] / "e"), "--offload-folder",
                                                    str(w["model"])), "is --model"),
    "scores to a path ending in '/'": (lambda w: _prune(w, "--dry-run", "--scores-out", str(w["root"] / "new") + "/"),
                                       "ends in '/', a folder"),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_refusals_leave_every_input_untouched(world, name, capsys):
    argv, message = REFUSALS[name]
    before, entries = _hashes(world["root"]), sorted(p.name for p in world["root"].iterdir())
    assert run(argv(world)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert _hashes(world["root"]) == before
    assert sorted(p.name for p in world["root"].iterdir()) == entries  # nothing created either


def test_output_dot_is_refused_in_one_line_and_overwrite_replaces_only_a_previous_output(world, monkeypatch,
                                                                                        capsys):
    work = world["root"] / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    base = ["prune", "--model-path", str(world["model"]), "--from-scores", str(world["scores"]), "--quiet"]
    assert run([*base, "--output-path", "."]) == 2  # was: ValueError: PosixPath('.') has an empty name
    err = capsys.readouterr().err
    assert "is or holds the working folder" in err and len(err.strip().splitlines()) == 1
    assert run([*base, "--output-path", "pruned"]) == 0
    assert (work / "pruned" / "config.json").is_file() and (work / "pruned" / "reap_omni" / "scores.json").is_file()
    assert run([*base, "--output-path", "pruned"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert run([*base, "--output-path", "pruned", "--retention-rate", "0.75", "--overwrite"]) == 0
    assert json.loads((work / "pruned" / "reap_omni" / "scores.json").read_text())["kept_per_layer"] == 6
    assert sorted(p.name for p in work.iterdir()) == ["pruned"]


def _start_paused(argv: list[str], at: str, marker: Path) -> subprocess.Popen:
    env = launch_env()
    env.update(PAUSE_AT=at, PAUSE_MARKER=str(marker))
    proc = subprocess.Popen([sys.executable, "-c", PAUSING_CLI, *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the run never reached the pause point"
        time.sleep(0.05)
    return proc


def _cli(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reap_omni", *argv], env=launch_env(), capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_kill_mid_surgery_then_rerun_gives_the_exact_output(world, sig):
    root = world["root"]
    argv = ["prune", "--model-path", str(world["model"]), "--from-scores", str(world["scores"])]
    assert run([*argv, "--output-path", str(root / "reference"), "--quiet"]) == 0
    proc = _start_paused([*argv, "--output-path", str(root / "out")], "shard", root / "paused")
    temps = [p for p in root.iterdir() if p.name.startswith(".out.tmp-")]
    assert len(temps) == 1 and len(list(temps[0].glob("*.safetensors"))) == 2  # the run is mid-surgery
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert not (root / "out").exists()
    if sig == signal.SIGTERM:  # handled like Ctrl-C: the partial folder is removed at once
        assert proc.returncode == 128 + signal.SIGTERM and "interrupted" in err, err[-3000:]
        assert not temps[0].exists()
    else:
        assert proc.returncode == -signal.SIGKILL and temps[0].is_dir()
    rerun = _cli([*argv, "--output-path", str(root / "out")])
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    removed = [line for line in rerun.stderr.splitlines() if "left by a killed run" in line]
    assert len(removed) == (1 if sig == signal.SIGKILL else 0), rerun.stderr
    assert not [p for p in root.iterdir() if p.name.startswith(".")]
    ref, got = _hashes(root / "reference"), _hashes(root / "out")
    assert {k.split("/", 1)[1]: v for k, v in got.items()} == {k.split("/", 1)[1]: v for k, v in ref.items()}


def test_kill_between_the_two_renames_puts_the_previous_output_back(world):
    root, pruned = world["root"], world["pruned"]
    argv = ["prune", "--model-path", str(world["model"]), "--from-scores", str(world["scores"]), "--output-path",
            str(pruned), "--retention-rate", "0.75"]
    before = _hashes(pruned)
    proc = _start_paused([*argv, "--overwrite"], "swap", root / "paused")
    assert not pruned.exists() and len([p for p in root.iterdir() if p.name.startswith(".pruned.old-")]) == 1
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    again = _cli(argv)  # no --overwrite: the previous output, put back, is refused, not replaced
    assert again.returncode == 2 and "pass --overwrite" in again.stderr, again.stderr[-3000:]
    assert "restored" in again.stderr and _hashes(pruned) == before
    assert not [p for p in root.iterdir() if p.name.startswith(".")]
    assert _cli([*argv, "--overwrite"]).returncode == 0
    assert json.loads((pruned / "reap_omni" / "scores.json").read_text())["kept_per_layer"] == 6


def test_eval_writes_its_set_whole_or_leaves_the_previous_one(world, monkeypatch, capsys):
    from reap_omni.evaluate import report as eval_report

    out = world["root"] / "eval"
    out.mkdir()
    (out / "eval.json").write_text(json.dumps({"meta": {"format": "reap-omni-eval/1"}, "strata": {}}))
    (out / "eval.md").write_text("# the previous run\n")
    before = _hashes(out)
    real = eval_report.write_outputs

    def killed_mid_write(folder, doc, records):
        (folder / "eval.json").write_text(json.dumps(doc))
        raise KeyboardInterrupt  # Ctrl-C, or SIGTERM handled like it, after one file of the new set

    monkeypatch.setattr(eval_report, "write_outputs", killed_mid_write)
    assert run(_eval(world, "--output", str(out))) == 130
    assert _hashes(out) == before and not [p for p in world["root"].iterdir() if p.name.startswith(".")]
    monkeypatch.setattr(eval_report, "write_outputs", real)
    assert run(_eval(world, "--output", str(out))) == 0
    doc = json.loads((out / "eval.json").read_text())
    assert doc["strata"]["S1"]["original"]["rows"] == 1 and "# REAP-OMNI evaluation" in (out / "eval.md").read_text()
    # a previous eval folder the user added a file to is not eval's alone any more: refused, kept whole
    (out / "notes.txt").write_text("mine")
    before = _hashes(out)
    capsys.readouterr()
    assert run(_eval(world, "--output", str(out))) == 2
    assert "holds files reap-omni did not write" in capsys.readouterr().err and _hashes(out) == before


class _Loaded(Exception):
    """The model began to load: every check that must come first has passed."""


@pytest.fixture
def no_model_load(monkeypatch):
    def loaded(*_a, **_k):
        raise _Loaded

    monkeypatch.setattr("reap_omni.model.load.load_for_scoring", loaded)


#: flag -> the argv that writes that output into ``folder`` (a read-only view, or a tiny disk)
UNWRITABLE = {
    "--output-path": lambda w, f: _prune(w, "--output-path", str(f / "o")),
    "--checkpoint-dir": lambda w, f: _prune(w, "--output-path", str(w["root"] / "o"), "--checkpoint-dir",
                                            str(f / "ck")),
    "--scores-out": lambda w, f: _prune(w, "--dry-run", "--scores-out", str(f / "s.json")),
    "--offload-folder": lambda w, f: _prune(w, "--output-path", str(w["root"] / "o"), "--device-map", "auto",
                                            "--offload-folder", str(f / "off")),
    "--output": lambda w, f: _eval(w, "--output", str(f / "e")),
}


@pytest.mark.parametrize("flag", list(UNWRITABLE))
def test_a_read_only_output_is_refused_before_the_model_loads(world, mounts, flag, capsys, no_model_load):
    src = world["root"] / "src"
    src.mkdir()
    view = mounts.read_only_view(src)
    assert run(UNWRITABLE[flag](world, view)) == 2  # was: found after calibrating (or evaluating) everything
    err = capsys.readouterr().err
    assert f"{flag} {view}" in err and "read-only file system" in err and len(err.strip().splitlines()) == 1, err


def test_a_disk_too_small_for_the_checkpoint_is_refused_before_the_model_loads(world, mounts, capsys,
                                                                              no_model_load):
    disk = mounts.tmpfs("64k")
    assert run(_prune(world, "--output-path", str(disk / "o"), "--checkpoint-every", "0")) == 2
    err = capsys.readouterr().err
    assert f"--output-path {disk / 'o'} needs about" in err and len(err.strip().splitlines()) == 1, err
    assert not list(disk.iterdir())
