"""Every catalog source that is a Hub repo or an archive is read against a fixture with its real layout."""

from __future__ import annotations

import pytest

from reap_omni.fixtures.catalog_fixture import add_fixture
from reap_omni.sources.factory import open_source
from reap_omni.sources.http import HttpClient

registry = pytest.importorskip("reap_omni.catalog.registry")
NETWORK_KINDS = ("hf_parquet", "hf_tar", "http_tar", "zip_range", "hf_files")
CASES = [pytest.param(d.name, i, s, id=f"{d.name}-{i}-{s.kind}")
         for d in registry.all_datasets() for i, s in enumerate(d.sources) if s.kind in NETWORK_KINDS]


def test_catalog_has_network_sources():
    assert {c.values[2].kind for c in CASES} == set(NETWORK_KINDS)


@pytest.mark.parametrize(("name", "index", "spec"), CASES)
def test_catalog_source_reads_its_fixture(hub_server, name, index, spec):
    fixture, spec = add_fixture(hub_server, spec)
    src = open_source(spec, dataset=name, client=HttpClient(sleep=lambda s: None))
    units = src.units()
    assert units, f"{name}: no units"
    cands = list(src.read(units[0]))
    assert cands, f"{name}: first unit gave no candidate"
    cand = cands[0]
    if registry.get_dataset(name).modality == "text":  # S0 rows: no media, an instruction and its answer
        from reap_omni.catalog.text import text_row

        assert not cand.media and all(text_row(cand.fields)), cand.fields
    else:
        assert cand.media and all(b.data for b in cand.media.values())
    assert cand.key and cand.provenance.kind == spec.kind
    text_fields = {"text", "caption", "label", "question", "translation"} & set(spec.columns)
    if text_fields:
        assert any(cand.fields.get(f) not in (None, "") for f in text_fields), cand.fields
    assert src.bytes_read > 0
