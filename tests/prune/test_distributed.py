"""Data parallel: torchrun with 2 gloo ranks equals 1 process; uneven shards; one failing rank stops all."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from model_helpers import run_launched as _run
from model_helpers import torchrun as _torchrun

from reap_omni.errors import ReapOmniError
from reap_omni.model.distributed import Dist, rank_device_map, rank_max_memory
from reap_omni.prune.scores import load_scores


def test_shards_are_disjoint_deterministic_and_cover_everything():
    items = list(range(7))
    shards = [Dist(rank=r, world_size=3).shard(items) for r in range(3)]
    assert shards == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(sum(shards, [])) == items
    assert Dist(rank=1, world_size=9).shard([0]) == []  # more ranks than samples: some ranks run none
    assert Dist().shard(items) == items


def test_ranks_slice_the_node_for_device_maps():
    d = Dist(rank=1, world_size=4, local_rank=1, local_world_size=4)
    assert d.gpus_per_rank(8) == [2, 3]
    mem = {i: 80 for i in range(8)} | {"cpu": 400}
    assert rank_max_memory(d, mem, 8) == {2: 80, 3: 80, "cpu": 100}
    assert rank_device_map(d, {"a": 0, "b": 1, "c": "cpu"}) == {"a": 2, "b": 3, "c": "cpu"}
    with pytest.raises(ReapOmniError, match="at most one rank per GPU"):
        d.gpus_per_rank(2)
    single = Dist()
    assert rank_max_memory(single, mem, 8) is mem and single.gpus_per_rank(8) == list(range(8))


def test_single_process_check_reraises_its_own_error():
    with pytest.raises(ValueError, match="boom"):
        Dist().check(ValueError("boom"), "x")
    Dist().check(None, "x")



def _prune_argv(tiny_ckpt, m, scores: Path, video="video", *extra) -> list[str]:
    return ["-m", "reap_omni", "prune", "--model-path", str(tiny_ckpt), "--audio-data", str(m["audio"]),
            "--video-data", str(m[video]), "--mixed-data", str(m["mixed"]), "--dry-run", "--dtype", "float32",
            "--video-max-pixels", "4096", "--scores-out", str(scores), "--json", *extra]




def test_two_gloo_ranks_equal_one_process(tiny_ckpt, manifests3, tmp_path):
    one, two = tmp_path / "one" / "scores.json", tmp_path / "two" / "scores.json"
    p1 = _run([sys.executable, *_prune_argv(tiny_ckpt, manifests3, one)], tmp_path)
    assert p1.returncode == 0, p1.stderr[-3000:]
    p2 = _run([*_torchrun(2), *_prune_argv(tiny_ckpt, manifests3, two)], tmp_path)
    assert p2.returncode == 0, p2.stderr[-3000:]
    a, b = load_scores(one), load_scores(two)
    for s in ("S1", "S2", "S3"):
        assert torch.equal(a.strata[s].counts, b.strata[s].counts)
        assert torch.equal(a.strata[s].tokens, b.strata[s].tokens)
        # float32 forwards in processes with other thread counts (torchrun gives each rank OMP_NUM_THREADS=1),
        # so the per-token values may differ at float32 resolution: not a float64 reduction-order tolerance
        torch.testing.assert_close(b.strata[s].sums, a.strata[s].sums, rtol=1e-5, atol=1e-6)
    assert json.loads(one.read_text())["kept"] == json.loads(two.read_text())["kept"]
    assert a.meta["world_size"] == 1 and b.meta["world_size"] == 2
    # only rank 0 printed the summary and logged
    summaries = [json.loads(line) for line in p2.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1 and summaries[0]["world_size"] == 2
    assert summaries[0]["calibration"]["S1"]["samples"] == 3
    assert p2.stderr.count("wrote scores to") == 1 and p2.stderr.count("S2: 3 samples") == 1


def test_more_ranks_than_samples(tiny_ckpt, manifests3, tmp_path):
    """--calibration-samples 1 on 2 ranks: rank 1 runs nothing, and the result is still the 1-sample one."""
    out = tmp_path / "scores.json"
    p = _run([*_torchrun(2), *_prune_argv(tiny_ckpt, manifests3, out, "video", "--calibration-samples", "1")],
             tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    sc = load_scores(out)
    assert all(int(sc.strata[s].tokens[0]) > 0 for s in ("S1", "S2", "S3"))


def test_a_failing_rank_makes_every_rank_exit_non_zero(tiny_ckpt, manifests3, tmp_path):
    out = tmp_path / "scores.json"
    p = _run([*_torchrun(2), *_prune_argv(tiny_ckpt, manifests3, out, "video_bad")], tmp_path)
    assert p.returncode != 0
    assert "cannot decode video" in p.stderr  # rank 1's own error
    assert "rank 1 failed during stratum S2" in p.stderr  # rank 0 stops because of it
    assert "exitcode  : 0" not in p.stderr  # no rank reported success
    assert not out.exists()
