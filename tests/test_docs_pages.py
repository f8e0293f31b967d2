"""The READMEs and the docs pages: every command they show parses with the real parser, every flag they name in
prose exists, the English and Chinese pages show the same commands, every relative link and anchor resolves,
and the front page stays short."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from reap_omni.cli import CONVERT_COMMANDS, build_parser

ROOT = Path(__file__).resolve().parent.parent
READMES = ("README.md", "README_zh.md")
PAGES = [*READMES, *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*/*.md"))]
FRONT_PAGE_LINES = 250
#: flags of other programs that the pages name (torchrun's); the benchmark scripts' are read from their source
FOREIGN_FLAGS = {"--nproc-per-node"}


def _text(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def _bash_lines(page: str) -> list[str]:
    """Shell lines of the page's bash blocks, continuations joined, comment-only lines dropped."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", _text(page), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+", " ", line).strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _argv(tokens: list[str]) -> list[str] | None:
    """The ``reap-omni`` arguments a shown command stands for (root shims, ``-m reap_omni``), else None."""
    if tokens[0] == "reap-omni":
        return tokens[1:]
    if "-m" in tokens and tokens.index("-m") + 1 < len(tokens) and tokens[tokens.index("-m") + 1] == "reap_omni":
        return tokens[tokens.index("-m") + 2:]
    if tokens[0] not in ("python", "python3") or len(tokens) < 2:
        return None
    script, rest = tokens[1], tokens[2:]
    if script == "quickstart.py":
        return ["quickstart", *rest]
    if script == "reap_expert_pruning.py":
        return ["prune", *rest]
    if script == "convert_utils.py":
        assert rest and rest[0] in CONVERT_COMMANDS, tokens
        return rest
    if script in ("download_datasets.py", "extended_datasets.py"):
        if "--list" in rest:
            return ["list", *(t for t in rest if t != "--list")]
        return ["download", *(["--extended"] if script == "extended_datasets.py" else []), *rest]
    return None


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _flags(tokens: list[str]) -> list[str]:
    return [t.strip("[]").split("=")[0] for t in tokens if t.strip("[").startswith("--")]


@pytest.mark.parametrize("page", PAGES)
def test_every_command_shown_parses(page):
    parser, subs = build_parser(), _subparsers()
    checked = 0
    for line in _bash_lines(page):
        argv = _argv(shlex.split(line, comments=True))
        if argv is None:
            continue
        checked += 1
        elided = "..." in argv or any(t.startswith("[") for t in argv)
        if not elided:
            try:
                parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"{page}: does not parse: {line}")
            continue
        known = subs[argv[0]]._option_string_actions  # an elided line: every flag it names must exist
        unknown = [f for f in _flags(argv) if f not in known]
        assert not unknown, f"{page}: {line}: no such flag(s) {unknown} for {argv[0]}"
    if page != "docs/en/development.md" and page != "docs/zh/development.md":
        assert checked, f"{page} shows no command"


@pytest.mark.parametrize("page", PAGES)
def test_every_flag_named_in_prose_exists(page):
    """A ``--flag`` in backticks belongs to some reap-omni command (or is a trainer's, spelt with underscores)."""
    known = {f for sub in _subparsers().values() for f in sub._option_string_actions} | FOREIGN_FLAGS
    for script in [*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "docs").glob("*.py")]:
        known |= set(re.findall(r"add_argument\(\s*[\"']--[\w-]+", script.read_text(encoding="utf-8")))
    known = {k.split("(")[-1].strip().strip("\"'") for k in known}
    text = re.sub(r"```.*?```", "", _text(page), flags=re.S)
    named = {f for span in re.findall(r"`([^`]+)`", text) for f in re.findall(r"(?<![\w-])--[a-z][\w-]*", span)}
    unknown = sorted(f for f in named if f not in known and "_" not in f)
    assert not unknown, f"{page} names flags no command has: {unknown}"


def _twin(page: str) -> str:
    if page in READMES:
        return READMES[1 - READMES.index(page)]
    return page.replace("docs/en/", "docs/zh/") if "/en/" in page else page.replace("docs/zh/", "docs/en/")


@pytest.mark.parametrize("page", [p for p in PAGES if p == "README.md" or p.startswith("docs/en/")])
def test_english_and_chinese_pages_show_the_same_commands(page):
    assert (ROOT / _twin(page)).is_file(), f"{page} has no Chinese twin {_twin(page)}"
    strip = [shlex.split(line, comments=True) for line in _bash_lines(page)]
    assert strip == [shlex.split(line, comments=True) for line in _bash_lines(_twin(page))]


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES)
def test_links_resolve(page):
    text = re.sub(r"```.*?```", "", _text(page), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (ROOT / page).parent / path if path else ROOT / page
        if not dest.exists() or (anchor and anchor not in _anchors(dest)):
            broken.append(target)
    assert not broken, f"{page}: broken links {broken}"


@pytest.mark.parametrize("name", READMES)
def test_front_page_stays_short(name):
    lines = _text(name).count("\n")
    assert lines <= FRONT_PAGE_LINES, f"{name} has {lines} lines (at most {FRONT_PAGE_LINES}): move the detail to docs/"


def test_every_docs_page_is_linked_from_both_readmes():
    for lang, readme in zip(("en", "zh"), READMES, strict=True):
        text = _text(readme)
        for page in sorted((ROOT / "docs" / lang).glob("*.md")):
            assert f"](docs/{lang}/{page.name})" in text, f"{readme} does not link docs/{lang}/{page.name}"
