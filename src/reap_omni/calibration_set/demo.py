"""``quickstart --demo``: the whole pipeline offline, against a generated Hub on 127.0.0.1.

A newcomer (or a CI job) sees the real flow (source listing, range reads, sampling, media normalisation,
manifests, lock, stats) without network or accounts: the loopback fixture Hub serves repos that copy the
layouts and column names of the recommended datasets' sources, filled with synthetic PyAV media, and
``HF_ENDPOINT`` points at it for the duration of the build. Archive sources behind plain URLs get their
URL rewritten to the fixture server.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from reap_omni.calibration_set.plan import quickstart_plan
from reap_omni.catalog.spec import DatasetSpec, SourceSpec
from reap_omni.errors import ReapOmniError

#: source kinds the fixture builders can imitate (``fixtures.catalog_fixture.add_fixture``)
DEMO_KINDS = ("hf_parquet", "hf_tar", "http_tar", "zip_range", "hf_files", "hf_json")


def _fixture_size(kind: str, rows: int) -> dict[str, int]:
    """Enough rows for ``rows`` samples with room for over-sampling, spread over several shards."""
    want = max(8, math.ceil(rows * 1.5))
    if kind == "hf_parquet":
        per_shard = math.ceil(want / 4)
        return {"shards": 4, "rows_per_shard": per_shard, "row_group_size": max(2, math.ceil(per_shard / 3))}
    return {"members": want}


def serve_source(server, spec: SourceSpec, rows: int, **builder_options: Any) -> SourceSpec | None:
    """Put a fixture for ``spec`` on ``server``; return the spec to use (URLs rewritten), or None if impossible.

    ``builder_options`` go to ``fixtures.catalog_fixture.add_fixture`` (e.g. ``media`` for archive members) on top
    of the size chosen for ``rows`` samples. Tests use this to serve one source of a dataset at a time.
    """
    from reap_omni.fixtures.catalog_fixture import add_fixture

    if spec.kind not in DEMO_KINDS or spec.opt_in:
        return None
    try:
        built = add_fixture(server, spec, **{**_fixture_size(spec.kind, rows), **builder_options})
    except (ValueError, KeyError, NotImplementedError):
        return None
    if isinstance(built, tuple):  # (what was built, the spec with its URLs moved to the fixture server)
        return built[1]
    fx = built
    changes: dict[str, str] = {}
    urls = list(fx.urls)
    if urls and spec.url:
        changes["url"] = urls.pop(0)
    if urls and spec.metadata and "://" in spec.metadata:
        changes["metadata"] = urls.pop(0)
    return msgspec.structs.replace(spec, **changes) if changes else spec


def serve_fixtures(server, datasets: Sequence[DatasetSpec], rows: dict[str, int]) -> list[DatasetSpec]:
    """Fixtures on ``server`` for every source of ``datasets`` it can imitate, sized for ``rows[name]`` samples.

    Returns the datasets restricted to those sources (with archive URLs pointing at the server).
    """
    out: list[DatasetSpec] = []
    for d in datasets:
        specs = [s for s in (serve_source(server, spec, rows[d.name]) for spec in d.sources) if s is not None]
        if specs:
            out.append(msgspec.structs.replace(d, sources=tuple(specs), gated=False))
    return out


@contextlib.contextmanager
def demo_hub(datasets: Sequence[DatasetSpec], samples: int,
             text_samples: int | None = None) -> Iterator[list[DatasetSpec]]:
    """Serve fixtures for ``datasets`` on a loopback Hub; yield the datasets as the demo must read them
    (``samples`` rows per media stratum, ``text_samples`` of text (default ``samples``), as ``quickstart_plan``
    shares them)."""
    from reap_omni.fixtures.hub_server import HubServer

    text = samples if text_samples is None else text_samples
    shares = {item.name: item.target for item in quickstart_plan(datasets, samples, text)}
    server = HubServer().start()
    saved = os.environ.get("HF_ENDPOINT")
    try:
        out = serve_fixtures(server, [d for d in datasets if d.name in shares], shares)
        if not out:
            raise ReapOmniError("demo: no recommended dataset has a source the fixture Hub can imitate")
        os.environ["HF_ENDPOINT"] = server.endpoint
        yield out
    finally:
        if saved is None:
            os.environ.pop("HF_ENDPOINT", None)
        else:
            os.environ["HF_ENDPOINT"] = saved
        server.stop()
