from build_helpers import dataset

from reap_omni.calibration_set.plan import balanced_plan, per_dataset_plan, rebalance, split_evenly


def test_split_evenly_gives_the_remainder_to_the_first_parts():
    assert split_evenly(100, 3) == [34, 33, 33]
    assert split_evenly(2, 3) == [1, 1, 0]
    assert split_evenly(5, 0) == []


def test_per_dataset_plan_asks_every_dataset_for_n_rows_once():
    a, b = dataset("a"), dataset("b")
    plan = per_dataset_plan([a, b, a], 7)
    assert [(p.name, p.target, p.stratum) for p in plan] == [("a", 7, "audio"), ("b", 7, "audio")]


def test_balanced_plan_splits_each_stratum_total_over_its_datasets():
    ds = [dataset("a1"), dataset("a2"), dataset("a3"), dataset("v1", "video"), dataset("m1", "mixed")]
    plan = balanced_plan(ds, 100)
    assert {p.name: p.target for p in plan} == {"a1": 34, "a2": 33, "a3": 33, "v1": 100, "m1": 100}
    assert sum(p.target for p in plan if p.stratum == "audio") == 100


def test_balanced_plan_leaves_out_datasets_whose_share_is_zero():
    plan = balanced_plan([dataset("a"), dataset("b"), dataset("c")], 2)
    assert [p.name for p in plan] == ["a", "b"]


def test_rebalance_moves_a_failed_share_to_healthy_datasets_of_the_same_stratum():
    plan = balanced_plan([dataset("a"), dataset("b"), dataset("c"), dataset("v", "video")], 90)
    changed = rebalance(plan, {"a": 30, "b": 0, "c": 30, "v": 10})
    assert {p.name: p.target for p in changed} == {"a": 45, "b": 0, "c": 45}  # video has no healthy peer
    assert rebalance(plan, {"a": 30, "b": 30, "c": 30, "v": 90}) == []
    # applied, the stratum total stays 90 and a second call finds nothing left to move
    after = [next((c for c in changed if c.name == p.name), p) for p in plan]
    assert sum(p.target for p in after if p.group == "audio") == 90
    assert rebalance(after, {"a": 45, "b": 0, "c": 45, "v": 10}) == []
