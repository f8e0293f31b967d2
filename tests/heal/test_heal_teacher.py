"""The original's answers: greedy, resumable after a kill (a cut line included), discarded when the settings
change, and data parallel under torchrun with the answers of one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from reap_omni.heal.teacher import TeacherOptions, clean_answer, read_parts, teacher_answers
from reap_omni.model.inputs import InputOptions, load_samples
from reap_omni.model.placement import Placement

REPO = Path(__file__).resolve().parents[2]
INPUTS = InputOptions(video_size={"shortest_edge": 4096, "longest_edge": 4096})


def _samples(heal_rows) -> dict:
    return {s: load_samples(heal_rows[n], s, 2) for s, n in (("S1", "audio"), ("S2", "video"), ("S3", "mixed"))}


def _opts(original, max_new_tokens: int = 5) -> TeacherOptions:
    return TeacherOptions(str(original), max_new_tokens=max_new_tokens, batch_size=1,
                          placement=Placement(dtype="float32"), inputs=INPUTS)


def test_clean_answer_drops_thinking_tags_and_control_characters():
    assert clean_answer("<think>hm</think> a <audio>cat\x00 ") == "a cat"


def test_answers_resume_after_a_kill(heal_models, heal_rows, tmp_path):
    original = heal_models[0]
    samples = _samples(heal_rows)
    folder = tmp_path / "teacher"
    first = teacher_answers(_opts(original), samples, folder, print)
    assert {s: sorted(v) for s, v in first.items()} == {"S1": ["a0", "a1"], "S2": ["v0", "v1"], "S3": ["m0", "m1"]}
    # a killed rerun: S1's part keeps a0 (edited, to tell it from a new answer) and a line cut short
    part = folder / "S1.rank0.jsonl"
    kept = json.dumps({"stratum": "S1", "id": "a0", "answer": "from the earlier run"})
    part.write_text(kept + "\n" + '{"stratum": "S1", "id": "a1", "ans')
    for p in (folder / "S2.rank0.jsonl", folder / "S3.rank0.jsonl"):
        p.unlink()
    logs: list[str] = []
    again = teacher_answers(_opts(original), samples, folder, logs.append)
    assert "1 of 6 rows already answered, 5 to go" in logs[0]
    assert again["S1"]["a0"] == "from the earlier run"  # not answered twice
    assert {s: {k: v for k, v in a.items() if k != "a0"} for s, a in again.items()} == \
        {s: {k: v for k, v in a.items() if k != "a0"} for s, a in first.items()}  # same greedy answers
    lines = part.read_text().splitlines()
    assert lines[0] == kept and json.loads(lines[2])["id"] == "a1"  # the cut line ended, not swallowed
    logs.clear()
    teacher_answers(_opts(original, max_new_tokens=3), samples, folder, logs.append)  # other settings
    assert any("made under other settings" in m for m in logs)
    assert any("0 of 6 rows already answered, 6 to go" in m for m in logs)
    assert read_parts(folder)["S1"]["a0"] != "from the earlier run"


def test_two_ranks_answer_as_one_process(heal_models, heal_rows, tmp_path):
    original, pruned = heal_models
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p))
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    args = ["-m", "reap_omni", "heal", "--original", str(original), "--pruned", str(pruned), "--trainer",
            "llamafactory", "--audio-data", str(heal_rows["audio"]), "--video-data", str(heal_rows["video"]),
            "--mixed-data", str(heal_rows["mixed"]), "--max-new-tokens", "5", "--teacher-batch-size", "1",
            "--video-max-pixels", "4096", "--dtype", "float32", "--quiet"]
    one = subprocess.run([sys.executable, *args, "--output", str(tmp_path / "one")], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          *args, "--output", str(tmp_path / "two")], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    parts = sorted(p.name for p in (tmp_path / "two" / "teacher").glob("*.jsonl"))
    assert parts == [f"S{s}.rank{r}.jsonl" for s in (1, 2, 3) for r in (0, 1)]  # each rank answered its share
    assert read_parts(tmp_path / "two" / "teacher") == read_parts(tmp_path / "one" / "teacher")
    for name in ("heal_audio", "heal_video", "heal_mixed", "dataset_info"):
        suffix = ".json" if name == "dataset_info" else ".jsonl"
        a = (tmp_path / "one" / "data" / f"{name}{suffix}").read_text()
        b = (tmp_path / "two" / "data" / f"{name}{suffix}").read_text()
        assert a.replace(str(tmp_path / "one"), "X") == b.replace(str(tmp_path / "two"), "X")
