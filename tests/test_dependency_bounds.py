"""The extras install beside the trainers they hand off to, without replacing the trainers' versions.

The trainers' requirements are their wheels' ``Requires-Dist`` on PyPI (llamafactory-0.9.5 and
ms_swift-4.6.0 METADATA). ``.ci/trainer-env`` installs a trainer-compatible set first and checks that the
README's install keeps it; this test keeps that set inside every bound at once.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

tomllib = pytest.importorskip("tomllib")
ROOT = Path(__file__).resolve().parent.parent

TRAINERS = {
    "llamafactory 0.9.5": {"transformers": "!=4.52.0,!=4.57.0,<=5.6.0,>=4.55.0", "accelerate": "<=1.11.0,>=1.3.0",
                           "av": "<=16.0.0,>=10.0.0", "datasets": "<=4.0.0,>=2.16.0", "torch": ">=2.4.0",
                           "torchvision": ">=0.19.0"},
    "ms-swift 4.6.0": {"transformers": "<5.20.0,>=4.33", "datasets": "<4.8.5,>=4.0"},
}


def _ours() -> dict[str, SpecifierSet]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [*project["dependencies"], *project["optional-dependencies"]["prune"],
            *project["optional-dependencies"]["dev"]]
    out: dict[str, SpecifierSet] = {}
    for text in reqs:
        req = Requirement(text)
        out[req.name.lower().replace("_", "-")] = out.get(req.name, SpecifierSet()) & req.specifier
    return out


def _trainer_env_pins() -> dict[str, list[str]]:
    """``"pkg==1.2.3"`` pins of .ci/trainer-env, and the versions its ``for <pkg> in ...; do`` loop tries."""
    script = (ROOT / ".ci" / "trainer-env").read_text()
    pins: dict[str, list[str]] = {}
    for name, version in re.findall(r'"([A-Za-z0-9_.-]+)==([0-9][^"]*)"', script):
        pins.setdefault(name, []).append(version)
    for name, versions in re.findall(r"^for ([A-Za-z0-9_]+) in ([0-9. ]+); do$", script, re.M):
        pins.setdefault(name, []).extend(versions.split())
    return pins


def test_the_ci_trainer_environment_satisfies_every_bound():
    ours, pins = _ours(), _trainer_env_pins()
    assert {"transformers", "accelerate", "datasets"} <= pins.keys()
    assert len(pins["transformers"]) == 2  # the oldest both trainers take and LLaMA-Factory's newest
    for name, versions in pins.items():
        for version in versions:
            assert version in ours[name], f"{name}=={version} is outside pyproject's {ours[name]}"
            for trainer, theirs in TRAINERS.items():
                if name in theirs:
                    assert version in SpecifierSet(theirs[name]), f"{name}=={version} is outside {trainer}'s bound"


@pytest.mark.parametrize("trainer", sorted(TRAINERS))
def test_the_top_of_each_trainers_range_is_inside_ours(trainer):
    """A trainer environment at the top of its ranges (and torch at the lowest transformers 5.x takes) needs
    no other version of anything the extras name."""
    newest = {"transformers": {"llamafactory 0.9.5": "5.6.0", "ms-swift 4.6.0": "5.19.0"}[trainer],
              "accelerate": "1.11.0", "av": "16.0.0", "datasets": {"llamafactory 0.9.5": "4.0.0",
                                                                  "ms-swift 4.6.0": "4.8.4"}[trainer],
              "torch": "2.6.0", "torchvision": "0.21.0"}
    ours = _ours()
    for name, spec in TRAINERS[trainer].items():
        assert newest[name] in SpecifierSet(spec)
        assert newest[name] in ours[name], f"{trainer} may hold {name} {newest[name]}; pyproject says {ours[name]}"
