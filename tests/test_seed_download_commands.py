"""The seed README's download commands, verbatim, against the loopback fixture Hub (and ``--list`` offline).

Each command runs as a subprocess of the root script, as a user would type it, with ``HF_ENDPOINT`` on the
fixture Hub and every other host sent to a closed loopback port, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reap_omni.calibration_set.demo import serve_fixtures
from reap_omni.calibration_set.plan import balanced_plan
from reap_omni.catalog.registry import get_dataset, select
from reap_omni.fixtures.hub_server import HubServer
from reap_omni.manifest.record import iter_records

REPO = Path(__file__).resolve().parents[1]
CLOSED = "http://127.0.0.1:9"


def env_for(endpoint: str) -> dict[str, str]:
    return {**os.environ, "HF_ENDPOINT": endpoint, "HTTP_PROXY": CLOSED, "HTTPS_PROXY": CLOSED,
            "http_proxy": CLOSED, "https_proxy": CLOSED, "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost", "MDC_API_KEY": ""}


def seed(command: str, cwd: Path, endpoint: str = CLOSED) -> subprocess.CompletedProcess:
    """Run ``python <script> <args>`` exactly as written in the seed README, from ``cwd``."""
    script, *args = command.split()[1:]
    return subprocess.run([sys.executable, str(REPO / script), *args], cwd=cwd, env=env_for(endpoint),
                          capture_output=True, text=True, timeout=600)


def rows(path: Path) -> list:
    return [r for _, r in iter_records(path)] if path.exists() else []


@pytest.fixture
def hub():
    with HubServer() as server:
        yield server


def test_list_works_offline(tmp_path):
    res = seed("python download_datasets.py --list", tmp_path)
    assert res.returncode == 0, res.stderr
    for name in ("librispeech", "kinetics400", "vggsound"):
        assert name in res.stdout


def test_quickstart_builds_the_recommended_mix(hub, tmp_path):
    recommended = select(None, "all", recommended_only=True)
    serve_fixtures(hub, recommended, {p.name: p.target for p in balanced_plan(recommended, 100)})
    res = seed("python quickstart.py --output ./calibration_data --samples 100", tmp_path, hub.endpoint)
    assert res.returncode == 0, res.stderr
    cal = tmp_path / "calibration_data" / "calibration"
    for stratum in ("audio", "video", "mixed"):
        recs = rows(cal / f"{stratum}.jsonl")
        assert len(recs) == 100 and {r.modality for r in recs} == {stratum}
        per_dataset = {r.source["dataset"] for r in recs}
        assert per_dataset == {d.name for d in recommended if d.modality == stratum}
        assert all(os.path.isabs(m) for r in recs for _, m in r.media_paths())
    assert "python reap_expert_pruning.py" in res.stdout and "--mixed-data" in res.stdout
    assert "Traceback" not in res.stderr


def test_one_dataset_with_samples(hub, tmp_path):
    serve_fixtures(hub, [get_dataset("librispeech")], {"librispeech": 100})
    res = seed("python download_datasets.py --dataset librispeech --output ./data --samples 100", tmp_path,
               hub.endpoint)
    assert res.returncode == 0, res.stderr
    recs = rows(tmp_path / "data" / "calibration" / "audio.jsonl")
    assert len(recs) == 100 and len({r.source["file"] for r in recs}) >= 4
    assert (tmp_path / "data" / "calibration" / "manifest.lock.json").exists()


def test_three_datasets_one_needing_an_account(hub, tmp_path):
    serve_fixtures(hub, [get_dataset("librispeech"), get_dataset("gigaspeech")], {"librispeech": 100,
                                                                                  "gigaspeech": 100})
    res = seed("python download_datasets.py --dataset librispeech gigaspeech common_voice --output ./data",
               tmp_path, hub.endpoint)
    assert res.returncode == 1  # common_voice cannot be fetched without an MDC key or a local copy
    recs = rows(tmp_path / "data" / "calibration" / "audio.jsonl")
    assert sorted({r.source["dataset"] for r in recs}) == ["gigaspeech", "librispeech"] and len(recs) == 200
    failed = [line for line in res.stderr.splitlines() if line.startswith("reap-omni: common_voice: 0/100 rows")]
    assert len(failed) == 1 and "Traceback" not in res.stderr


@pytest.mark.parametrize("modality", ["audio", "video", "mixed"])
def test_by_modality(hub, tmp_path, modality):
    datasets = select(None, modality)
    # small repos (each dataset gives what it has), except where a short dataset would fall back to a plain-URL
    # archive off the fixture Hub: those get enough rows not to need it
    sizes = {d.name: 100 if any(s.url and not s.repo for s in d.sources[1:]) else 8 for d in datasets}
    served = serve_fixtures(hub, datasets, sizes)
    res = seed(f"python download_datasets.py --modality {modality} --output ./data", tmp_path, hub.endpoint)
    assert res.returncode == 1, res.stderr  # most datasets do not reach the default 100 rows here
    stats = json.loads((tmp_path / "data" / "calibration" / "stats.json").read_text())["datasets"]
    assert set(stats) == {d.name for d in datasets}
    assert {n for n, st in stats.items() if st["status"] == "ok"} == {n for n, k in sizes.items() if k == 100}
    recs = rows(tmp_path / "data" / "calibration" / f"{modality}.jsonl")
    assert recs and {r.modality for r in recs} == {modality}
    with_rows = {r.source["dataset"] for r in recs}
    assert with_rows <= {d.name for d in served} and len(with_rows) >= 2
    assert all(st["status"] == "ok" or st["message"] for st in stats.values())
    assert "Traceback" not in res.stderr
