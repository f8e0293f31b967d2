"""Text cleaners and the shared text renderer."""

from __future__ import annotations

import pytest

from reap_omni.catalog.spec import SourceSpec
from reap_omni.catalog.text import (
    activitynet_question,
    aishell,
    aishell3,
    format_options,
    get_cleaner,
    gigaspeech,
    kespeech,
    render_text,
    sentence_case,
    tedlium,
    whitespace,
)
from reap_omni.errors import ReapOmniError


def test_whitespace():
    assert whitespace("  a \t b\n c ") == "a b c"


@pytest.mark.parametrize("raw,clean", [
    ("AS THEY'RE LEAVING <COMMA> CAN KASH PULL ZAHRA ASIDE REALLY QUICKLY <QUESTIONMARK>",
     "AS THEY'RE LEAVING, CAN KASH PULL ZAHRA ASIDE REALLY QUICKLY?"),
    ("WHAT A DAY <EXCLAMATIONPOINT> IT ENDED <PERIOD>", "WHAT A DAY! IT ENDED."),
    ("<SIL>", None),
    ("<MUSIC> SOME WORDS", None),
    ("HELLO <NOISE>", None),
    ("<OTHER>", None),
    ("  ", None),
])
def test_gigaspeech(raw, clean):
    assert gigaspeech(raw) == clean


@pytest.mark.parametrize("raw,clean", [
    ("{NOISE} so it 's a <sil> story {COUGH} that we 've told", "so it's a story that we've told"),
    ("ignore_time_segment_in_scoring", None),
    ("{BREATH} <sil>", None),
])
def test_tedlium(raw, clean):
    assert tedlium(raw) == clean


def test_aishell_removes_spaces_between_characters_only():
    assert aishell("而 对 楼市 成交 抑制 作用 最 大 的 限 购") == "而对楼市成交抑制作用最大的限购"
    assert aishell("我 用 iPhone 拍 照") == "我用iPhone拍照"
    assert aishell("hello world") == "hello world"


def test_aishell3_keeps_hanzi_of_alternating_tokens():
    assert aishell3("SSB00050001.wav\t广 guang3 州 zhou1 女 nv3 大 da4 学 xue2 生 sheng1") == "广州女大学生"
    assert aishell3("广 guang3 州 zhou1") == "广州"
    assert aishell3("") is None


def test_kespeech_strips_tags():
    assert kespeech("<SPOKEN_NOISE> 我 们 去 <SPOKEN_NOISE> 吃 饭") == "我们去吃饭"
    assert kespeech("<SPOKEN_NOISE>") is None


def test_activitynet_question():
    assert activitynet_question("what is the man doing") == "What is the man doing?"
    assert activitynet_question("is it raining?") == "Is it raining?"
    assert activitynet_question(" ") is None


def test_sentence_case():
    assert sentence_case("HE HOPED THERE WOULD BE STEW AND I SAID NO") == "He hoped there would be stew and I said no"
    assert sentence_case("Already fine.") == "Already fine."


def test_unknown_cleaner_lists_known_ones():
    with pytest.raises(ReapOmniError, match="unknown text cleaner 'nope'; known cleaners: activitynet_question"):
        get_cleaner("nope")


def test_format_options():
    assert format_options(["red", "blue"]) == "A. red B. blue"
    assert format_options(["A. red", "B. blue"]) == "A. red B. blue"


def test_render_plain_text_and_cleaner():
    src = SourceSpec(kind="hf_parquet", text_cleaner="gigaspeech")
    assert render_text(src, {"text": "HI <COMMA> THERE <PERIOD>"}) == "HI, THERE."
    assert render_text(src, {"text": "<SIL>"}) is None


def test_render_template_with_options_and_index_answer():
    src = SourceSpec(kind="hf_tar", text_template="{question} {options} Answer: {answer}")
    fields = {"question": "What colour?", "options": ["red", "blue", None], "answer": 1}
    assert render_text(src, fields) == "What colour? A. red B. blue Answer: B. blue"


def test_render_field_cleaner_label_and_empty_template():
    qa = SourceSpec(kind="zip_range", text_template="{question} Answer: {answer}",
                    field_cleaners={"question": "activitynet_question"})
    assert render_text(qa, {"question": "what is he doing", "answer": "cooking"}) == "What is he doing? Answer: cooking"
    label = SourceSpec(kind="hf_parquet", text_template="the sound of {label}")
    assert render_text(label, {"label": ["dog", "bark"]}) == "the sound of dog, bark"
    assert render_text(SourceSpec(kind="zip_range", text_template=""), {"id": "x"}) == ""
    assert render_text(SourceSpec(kind="hf_parquet"), {}) == ""


def test_render_missing_template_field_is_a_clear_error():
    src = SourceSpec(kind="hf_parquet", text_template="the sound of {label}")
    with pytest.raises(ReapOmniError, match=r"vggsound: text_template .* needs label but the row has audio, video"):
        render_text(src, {"audio": b"", "video": b""}, dataset="vggsound")
