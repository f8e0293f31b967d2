"""The READMEs' one path (download -> report -> prune -> eval -> fine-tune) uses real commands and real flags,
is the same in both languages, and its pictures exist and stay small."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
READMES = ("README.md", "README_zh.md")


def _section(name: str) -> str:
    text = (ROOT / name).read_text(encoding="utf-8")
    m = re.search(r"<!-- section:walkthrough -->(.*?)<!-- /section:walkthrough -->", text, re.S)
    assert m, f"{name} has no walkthrough section"
    return m.group(1)


def _commands(name: str) -> list[list[str]]:
    block = re.search(r"```bash\n(.*?)```", _section(name), re.S).group(1)
    lines = [line for line in block.replace("\\\n", " ").splitlines() if line.strip() and not line.startswith("#")]
    return [shlex.split(line) for line in lines]


def test_both_readmes_show_the_same_commands():
    en, zh = (_commands(n) for n in READMES)
    assert en == zh
    steps = [c[1] for c in en if c[0] == "reap-omni"]
    for a, b in zip(["quickstart", "report", "prune", "eval", "heal", "msswift"],
                    ["report", "prune", "eval", "heal", "msswift", "validate-msswift"], strict=True):
        assert steps.index(a) < steps.index(b), steps
    assert ["bash", "./heal/heal.sh"] in en  # the script heal writes, run as written (tests/heal runs it for real)
    assert en[-1][:2] == ["swift", "sft"]


@pytest.mark.parametrize("name", READMES)
def test_every_reap_omni_command_parses(name):
    from reap_omni.cli import build_parser

    parser = build_parser()
    for argv in _commands(name):
        if argv[0] == "reap-omni":
            parser.parse_args(argv[1:])  # an unknown flag exits with argparse's usage error


@pytest.mark.parametrize("name", READMES)
def test_pictures_exist_and_are_small(name):
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", _section(name))
    assert {Path(p).name.split("_")[0] for p in pictures} == {"report", "eval"}
    for p in pictures:
        assert 0 < (ROOT / p).stat().st_size < 200_000, p
    assert "docs/make_images.py" in _section(name) and (ROOT / "docs" / "make_images.py").is_file()


@pytest.mark.parametrize("name", READMES)
def test_each_step_links_to_its_page_in_its_language(name):
    """The details of each step are in docs/<lang>/ (tests/test_docs_pages.py resolves every link and anchor)."""
    lang = "en" if name == "README.md" else "zh"
    links = re.findall(r"\]\((docs/[^)#]+\.md)(?:#[^)]*)?\)", _section(name))
    assert len(links) >= 6
    assert {Path(p).name for p in links} >= {"data.md", "prune.md", "eval.md", "heal.md", "training.md"}
    assert all(p.startswith(f"docs/{lang}/") for p in links), links
