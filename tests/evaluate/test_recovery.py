"""``eval`` with several named ``--pruned`` checkpoints: each one's metrics, and the later ones' recovered share
of the first one's gap to the original (per stratum and pooled over all answer tokens)."""

from __future__ import annotations

import json

import pytest

from reap_omni.cli import run
from reap_omni.errors import ReapOmniError
from reap_omni.evaluate.recovery import parse_named_checkpoints, pooled, recovery, share
from reap_omni.prune.surgery import prune_checkpoint

KEPT = {0: [0, 2, 5, 7], 1: [1, 2, 3, 6], 2: [3, 4, 5, 6], 3: [0, 1, 4, 7]}
RESERVED = ("original", "reap-omni", "random")


def test_share_is_the_closed_part_of_the_gap():
    assert share(0.4, 0.1, 0.0) == pytest.approx(0.75)  # KL falls towards 0
    assert share(0.6, 0.9, 1.0) == pytest.approx(0.75)  # top-1 rises towards 1: same formula
    assert share(0.4, 0.5, 0.0) == pytest.approx(-0.25)  # worse than the reference
    assert share(0.4, 0.4, 0.4) is None and share(None, 0.1, 0.0) is None


def test_pooled_weights_strata_by_answer_tokens():
    strata = {"S1": {"m": {"kl": 1.0, "nll": 2.0, "top1": 0.5, "tokens": 1}},
              "S2": {"m": {"kl": 4.0, "nll": 2.0, "top1": 1.0, "tokens": 3}}}
    assert pooled(strata, "m") == {"kl": pytest.approx(3.25), "nll": pytest.approx(2.0),
                                   "top1": pytest.approx(0.875), "tokens": 4}
    strata["S1"]["original"] = strata["S2"]["original"] = {"kl": 0.0, "nll": 1.0, "top1": 1.0, "tokens": 2}
    strata["S1"]["h"] = {"kl": 0.5, "nll": 1.5, "top1": 0.75, "tokens": 1}
    strata["S2"]["h"] = {"kl": 1.0, "nll": 1.5, "top1": 1.0, "tokens": 3}
    rec = recovery(strata, ["m", "h"])
    assert rec["strata"]["S1"]["h"]["kl"] == pytest.approx(0.5)
    assert rec["strata"]["S2"]["h"]["kl"] == pytest.approx(0.75)
    assert rec["pooled_share"]["h"]["kl"] == pytest.approx((3.25 - 0.875) / 3.25)
    assert recovery(strata, ["m"]) is None


def test_named_checkpoints_parse_and_refuse_ambiguity():
    assert parse_named_checkpoints(["/a/b=c"], "pruned", RESERVED) == [("pruned", "/a/b=c")]
    assert parse_named_checkpoints(["./p"], "pruned", RESERVED) == [("pruned", "./p")]
    assert parse_named_checkpoints(["p=./x", "healed=./y"], "pruned", RESERVED) == [("p", "./x"), ("healed", "./y")]
    for values, msg in ((["./x", "./y"], "name each checkpoint"), (["a=./x", "a=./y"], "names 'a' twice"),
                        (["random=./x"], "is taken"), (["a="], "no path")):
        with pytest.raises(ReapOmniError, match=msg):
            parse_named_checkpoints(values, "pruned", RESERVED)


KEPT2 = {0: [1, 2, 3, 4], 1: [0, 4, 5, 7], 2: [0, 1, 2, 7], 3: [2, 3, 5, 6]}


@pytest.fixture(scope="module")
def pruned_dirs(tiny_ckpt, tmp_path_factory):
    root = tmp_path_factory.mktemp("recovery")
    prune_checkpoint(tiny_ckpt, root / "pruned", "thinker", KEPT)
    prune_checkpoint(tiny_ckpt, root / "other", "thinker", KEPT2)
    return root / "pruned", root / "other"


def _eval(tiny_ckpt, manifests, out, *pruned: str) -> dict:
    code = run(["eval", "--model", str(tiny_ckpt), "--methods", "", "--audio-data", str(manifests["audio"]),
                "--video-data", str(manifests["video"]), "--mixed-data", str(manifests["mixed"]), "--samples", "2",
                "--video-max-pixels", "4096", "--max-new-tokens", "0", "--output", str(out), "--quiet",
                *[a for p in pruned for a in ("--pruned", p)]])
    assert code == 0
    return json.loads((out / "eval.json").read_text())


def test_eval_reports_each_checkpoint_and_the_recovered_share(tiny_ckpt, manifests, pruned_dirs, tmp_path):
    """Each named checkpoint scores as it does alone; the recovered share follows from the strata; the reference
    evaluated again closes none of its own gap."""
    pruned, other = pruned_dirs
    doc = _eval(tiny_ckpt, manifests, tmp_path / "out", f"pruned={pruned}", f"healed={other}", f"again={pruned}")
    alone = _eval(tiny_ckpt, manifests, tmp_path / "alone", str(other))  # one unnamed --pruned: as before
    assert list(alone["strata"]["S1"]) == ["original", "pruned"] and "recovery" not in alone
    assert "checkpoints" not in alone["meta"] and alone["meta"]["pruned"] == str(other)
    assert doc["meta"]["methods"] == ["original", "pruned", "healed", "again"]
    assert doc["meta"]["checkpoints"] == {"pruned": str(pruned), "healed": str(other), "again": str(pruned)}
    rec = doc["recovery"]
    assert rec["reference"] == "pruned"
    for stratum, methods in doc["strata"].items():
        assert list(methods) == ["original", "pruned", "healed", "again"]
        for m in ("kl", "nll", "top1"):  # fp32, the same computation on the same weights
            assert methods["healed"][m] == pytest.approx(alone["strata"][stratum]["pruned"][m], rel=1e-5, abs=1e-7)
            assert methods["again"][m] == pytest.approx(methods["pruned"][m], rel=1e-5, abs=1e-7)
        assert methods["pruned"]["kl"] > 1e-4, stratum
        p, h = methods["pruned"]["kl"], methods["healed"]["kl"]
        assert rec["strata"][stratum]["healed"]["kl"] == pytest.approx((p - h) / p)
        assert rec["strata"][stratum]["again"]["kl"] == pytest.approx(0.0, abs=1e-4)
    tokens = sum(m["pruned"]["tokens"] for m in doc["strata"].values())
    pooled_kl = {n: sum(m[n]["kl"] * m[n]["tokens"] for m in doc["strata"].values()) / tokens
                 for n in ("pruned", "healed")}
    assert rec["pooled"]["pruned"]["tokens"] == tokens
    assert rec["pooled_share"]["healed"]["kl"] == pytest.approx(1 - pooled_kl["healed"] / pooled_kl["pruned"])
    md = (tmp_path / "out" / "eval.md").read_text()
    assert "## Recovery" in md and "| healed |" in md and "| again | 0% | 0% | 0% | 0% |" in md
    rows = [json.loads(line) for line in (tmp_path / "out" / "eval_rows.jsonl").read_text().splitlines()]
    assert [r["method"] for r in rows][-2:] == ["again", "again"]  # passes in order: original, then each checkpoint
