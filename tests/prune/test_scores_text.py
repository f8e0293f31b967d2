"""S0 in the scores: stored beside S1-S3, optional on load, and weighed by --gamma only when asked."""

from __future__ import annotations

import pytest
import torch

from reap_omni.errors import ReapOmniError
from reap_omni.prune.observer import StratumStats
from reap_omni.prune.scores import Scores, affinity, load_scores, save_scores, select


def _scores(strata=("S1", "S2", "S3", "S0")) -> Scores:
    g = torch.Generator().manual_seed(7)
    stats = {s: StratumStats(torch.rand(3, 6, generator=g, dtype=torch.float64) * 4,
                             torch.randint(1, 30, (3, 6), generator=g), torch.full((3,), 60)) for s in strata}
    return Scores("thinker", [0, 1, 2], 6, 2, stats, {})


def test_s0_round_trips_and_gamma_adds_it(tmp_path):
    sc = _scores()
    sel = select(sc, 1.0, 0.5, 0.5, gamma=2.0)
    path = tmp_path / "scores.json"
    save_scores(path, sc, sel)
    back = load_scores(path)
    assert back.has_text and list(back.strata) == ["S1", "S2", "S3", "S0"]
    for s in sc.strata:
        assert torch.equal(back.strata[s].sums, sc.strata[s].sums)
        assert torch.equal(back.strata[s].counts, sc.strata[s].counts)
    s1, s2, s3, s0 = (sc.saliency(s) for s in ("S1", "S2", "S3", "S0"))
    assert torch.equal(sel.affinity, s1 + 1.0 * torch.relu(s3 - 0.5 * s2) + 2.0 * s0)
    assert torch.equal(select(sc, 1.0, 0.5, 0.5).affinity, affinity(s1, s2, s3, 1.0, 0.5))  # gamma 0: unchanged


def test_scores_without_s0_load_and_refuse_gamma(tmp_path):
    sc = _scores(("S1", "S2", "S3"))
    path = tmp_path / "old.json"
    save_scores(path, sc, select(sc, 1.0, 1.0, 0.5))
    back = load_scores(path)
    assert not back.has_text and "S0_sums" not in str(path.with_suffix(".safetensors").read_bytes()[:4000])
    with pytest.raises(ReapOmniError, match="no S0 statistics: calibrate with --text-data"):
        select(back, 1.0, 1.0, 0.5, gamma=1.0)
    with pytest.raises(ReapOmniError, match="--gamma must be a finite number >= 0"):
        select(sc, 1.0, 1.0, 0.5, gamma=-1.0)
    pooled = back.pooled()
    assert torch.equal(pooled.counts, sum(sc.strata[s].counts for s in ("S1", "S2", "S3")))
