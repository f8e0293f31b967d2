"""The generated catalog docs must match the entries (drift test)."""

from __future__ import annotations

from pathlib import Path

from reap_omni.catalog import docs
from reap_omni.catalog.registry import all_datasets

ROOT = Path(__file__).resolve().parents[2]


def test_catalog_docs_are_up_to_date():
    stale = docs.stale_files(ROOT)
    assert not stale, f"run `reap-omni catalog-docs` to regenerate: {', '.join(map(str, stale))}"


def test_catalog_mentions_every_dataset_and_source():
    text = docs.render_catalog()
    for spec in all_datasets():
        assert f"`{spec.name}`" in text
        for src in spec.sources:
            if src.repo:
                assert src.repo in text


def test_readme_section_lists_every_seed_dataset_in_both_languages():
    for lang in ("en", "zh"):
        body = docs.render_readme_section(lang)
        for spec in all_datasets():
            if not spec.extended:
                assert f"(`{spec.name}`)" in body


def test_replace_section_keeps_the_rest(tmp_path):
    text = ("# t\n<!-- section:x -->\nkeep\n<!-- /section:x -->\n"
            "<!-- section:datasets -->\nold\n<!-- /section:datasets -->\nend\n")
    new = docs.replace_section(text, "NEW")
    assert new == text.replace("old\n", "NEW\n")
    assert docs.section_body(new) == "NEW"
