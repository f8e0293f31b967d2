"""The text (S0) entries: training splits, evidence in their notes, selection rules, and how a row is read."""

from __future__ import annotations

import pytest

from reap_omni.catalog.registry import check_coherent, is_eval_split_name, select, source_split
from reap_omni.catalog.text import chat_turns, text_row

TEXT = ("ultrachat_200k", "gsm8k", "evol_instruct_code")


def test_text_entries_are_s0_training_splits_with_their_evidence():
    specs = select(None, "text")
    assert [s.name for s in specs] == list(TEXT)
    for spec in specs:
        assert spec.stratum == "S0" and spec.modality == "text" and not check_coherent(spec)
        assert spec.extended and not spec.recommended  # never part of the seed list or the default mix
        for src in spec.sources:
            assert not src.eval_split and not is_eval_split_name(source_split(src))
            assert "hf.co/datasets/" in src.note  # the card the facts were read from
    by_name = {s.name: s.sources[0] for s in specs}
    assert by_name["ultrachat_200k"].split == "train_sft" and by_name["ultrachat_200k"].verified
    assert by_name["gsm8k"].config == "main" and by_name["gsm8k"].split == "train"
    assert not by_name["gsm8k"].verified and not by_name["evol_instruct_code"].verified  # file names not seen
    assert "unverified" in by_name["gsm8k"].note and "unverified" in by_name["evol_instruct_code"].note


def test_text_sets_stay_out_of_the_media_selections():
    assert not {s.name for s in select(None, "all")} & set(TEXT)
    assert not {s.name for s in select(None, "all", recommended_only=True)} & set(TEXT)
    assert set(TEXT) <= {s.name for s in select(None, "all", include_extended=True)}
    assert [s.name for s in select(["gsm8k"], "text")] == ["gsm8k"]


def test_a_chat_gives_its_first_exchange():
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": " Why?\n"},
            {"role": "assistant", "content": "Because.\nThat is all."}, {"role": "user", "content": "More?"}]
    assert chat_turns(chat) == ("Why?", "Because.\nThat is all.")
    assert chat_turns([{"role": "user", "content": "alone"}]) == ("alone", "")
    assert chat_turns("not a chat") == ("", "")


@pytest.mark.parametrize(("fields", "row"), [
    ({"question": "2+2?", "answer": "2 + 2 = 4\n#### 4"}, ("2+2?", "2 + 2 = 4\n#### 4")),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}, ("hi", "hello")),
    ({"question": "q", "answer": 42}, ("q", "42")),
    ({"question": "q"}, ("q", "")),
])
def test_text_row_fields(fields, row):
    assert text_row(fields) == row
