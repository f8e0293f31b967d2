"""Affinity, selection and the score files, on hand-made statistics."""

from __future__ import annotations

import pytest
import torch

from reap_omni.errors import ReapOmniError
from reap_omni.prune.observer import StratumStats
from reap_omni.prune.scores import Scores, affinity, load_scores, num_kept, save_scores, select, select_experts


def _stats(sums, counts):
    counts = torch.tensor(counts, dtype=torch.int64)
    return StratumStats(torch.tensor(sums, dtype=torch.float64), counts, counts.sum(dim=1) // 2)


def test_affinity_rewards_audio_and_the_audio_video_bonus_only():
    s1 = torch.tensor([[1.0, 0.0, 0.0, 0.5]])
    s2 = torch.tensor([[0.0, 2.0, 1.0, 0.0]])
    s3 = torch.tensor([[0.0, 1.0, 3.0, 0.5]])
    a = affinity(s1, s2, s3, lam=1.0, beta=1.0)
    assert a.tolist() == [[1.0, 0.0, 2.0, 1.0]]  # video-only expert 1 gets no bonus; expert 2 gains 3 - 1
    assert affinity(s1, s2, s3, lam=0.5, beta=2.0).tolist() == [[1.0, 0.0, 0.5, 0.75]]


def test_selection_keeps_top_k_sorted_with_ties_to_lower_id():
    a = torch.tensor([[0.1, 0.9, 0.5, 0.9, 0.0, 0.5], [3.0, 2.0, 1.0, 0.0, 5.0, 4.0]])
    assert select_experts(a, 3).tolist() == [[1, 2, 3], [0, 4, 5]]


def test_num_kept_rounding_and_limits():
    assert num_kept(0.5, 128, 8) == 64
    assert num_kept(0.3, 8, 2) == 2  # 2.4 -> 2
    assert num_kept(0.3125, 8, 2) == 3  # 2.5 rounds half up
    assert num_kept(1.0, 8, 2) == 8
    for bad in (0.0, -0.5, 1.01, float("nan")):
        with pytest.raises(ReapOmniError, match=r"\(0, 1\]"):
            num_kept(bad, 8, 2)
    with pytest.raises(ReapOmniError, match="fewer than the 8"):
        num_kept(0.05, 128, 8)


def test_saliency_is_count_weighted_and_zero_when_never_routed():
    st = _stats([[6.0, 0.0, 3.0]], [[3, 0, 1]])
    assert st.saliency().tolist() == [[2.0, 0.0, 3.0]]


def test_scores_roundtrip_and_selection(tmp_path):
    strata = {
        "S1": _stats([[4.0, 1.0, 0.0, 2.0]], [[2, 1, 1, 2]]),
        "S2": _stats([[0.0, 5.0, 1.0, 0.0]], [[1, 1, 1, 1]]),
        "S3": _stats([[0.0, 6.0, 4.0, 0.0]], [[1, 1, 1, 1]]),
    }
    sc = Scores("thinker", [3], 4, 2, strata, {"note": "hand-made"})
    sel = select(sc, 1.0, 1.0, 0.5)  # A = [2, 2, 3, 1]
    assert sel.affinity.tolist() == [[2.0, 2.0, 3.0, 1.0]] and sel.kept.tolist() == [[0, 2]]
    json_path, tensor_path = save_scores(tmp_path / "sc.json", sc, sel)
    back = load_scores(tensor_path)
    assert back.layers == [3] and back.num_experts == 4 and back.top_k == 2 and back.meta == {"note": "hand-made"}
    for name in ("S1", "S2", "S3"):
        assert torch.equal(back.strata[name].sums, strata[name].sums)
        assert torch.equal(back.strata[name].counts, strata[name].counts)
    assert select(back, 1.0, 1.0, 0.5).kept.tolist() == [[0, 2]]
    json_path.write_text('{"format": "other"}')
    with pytest.raises(ReapOmniError, match="not a reap-omni scores file"):
        load_scores(json_path)
