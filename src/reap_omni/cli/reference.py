"""Render the flag tables of the command reference (``docs/{en,zh}/*.md``) from the argparse definitions.

Each command's table sits between ``<!-- reference:COMMAND -->`` markers in one page per language; the prose
around them is written by hand. The English cells are the parser's help as written, so a flag cannot be
documented other than it is. The Chinese cells come from ``docs/zh/flag_help.json``, keyed by the English help
itself: a flag whose help changes has no Chinese text until its new wording is translated (the check names it),
so the Chinese page never shows a translation of an older meaning.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

DOCS_DIR = "docs"
LANGS = ("en", "zh")
ZH_HELP_FILE = "docs/zh/flag_help.json"
REGENERATE = "reap-omni docs"

_BLOCK_RE = re.compile(r"(<!-- reference:([\w-]+) -->\n)(.*?)(<!-- /reference:\2 -->)", re.S)
_DEFAULT_GROUPS = ("positional arguments", "options", "optional arguments")
_SWITCHES = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction,
             argparse._AppendConstAction, argparse._CountAction)
_HEAD = {"en": ("Flag", "Default", "Meaning", "required"), "zh": ("参数", "默认值", "说明", "必填")}


def subcommands(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """Every ``reap-omni`` subcommand's parser, in help order."""
    if parser is None:
        from reap_omni.cli import build_parser

        parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _md(text: str) -> str:
    """Help text as one Markdown table cell: pipes escaped everywhere, ``<`` and ``*`` outside code spans."""
    parts = text.replace("\n", " ").split("`")
    for i in range(0, len(parts), 2):  # even parts lie outside backticks
        parts[i] = parts[i].replace("<", "&lt;").replace("*", "\\*")
    return "`".join(parts).replace("|", "\\|")


def _flag(action: argparse.Action, fmt: argparse.HelpFormatter) -> str:
    if not action.option_strings:
        return f"`{fmt._format_args(action, fmt._get_default_metavar_for_positional(action))}`"
    names = ", ".join(f"`{s}`" for s in action.option_strings)
    if action.nargs == 0:
        return names
    return f"{names} `{fmt._format_args(action, fmt._get_default_metavar_for_optional(action))}`"


def _default(action: argparse.Action, lang: str) -> str:
    if action.required and not (not action.option_strings and action.nargs in ("?", "*")):
        return _HEAD[lang][3]  # argparse marks a '*' positional required, though it may be empty
    value = action.default
    if isinstance(action, _SWITCHES) or value is None or value == argparse.SUPPRESS or value in ("", []):
        return ""
    if isinstance(value, (list, tuple)):
        value = " ".join(map(str, value))
    return _md(f"`{value}`")


@dataclass
class _Translations:
    """The Chinese help texts and which English texts were asked for (to find missing and unused ones)."""

    zh: dict[str, str]
    asked: dict[str, str] = field(default_factory=dict)  # English text -> where it is used

    def text(self, english: str, lang: str, where: str) -> str:
        if lang == "en":
            return english
        self.asked.setdefault(english, where)
        return self.zh.get(english, english)

    def missing(self) -> list[str]:
        return [f'{ZH_HELP_FILE}: no Chinese text for {where}: "{en}"; add it, then run {REGENERATE}'
                for en, where in self.asked.items() if en not in self.zh]

    def unused(self) -> list[str]:
        return [f'{ZH_HELP_FILE}: "{en}" is no flag\'s help any more (reworded or removed): update or delete it'
                for en in self.zh if en not in self.asked]


def _help(action: argparse.Action, fmt: argparse.HelpFormatter, lang: str, tr: _Translations, where: str) -> str:
    if not action.help:
        return ""
    shown = copy.copy(action)
    shown.help = tr.text(action.help, lang, where)
    return _md(fmt._expand_help(shown))


def render_command(name: str, parser: argparse.ArgumentParser, lang: str, tr: _Translations) -> str:
    """The body of one command's reference block: a table of its flags, then one per titled group."""
    fmt = parser._get_formatter()
    head = _HEAD[lang]
    groups: list[tuple[str | None, list[argparse.Action]]] = [(None, [])]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS
                   and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]
        if group.title in _DEFAULT_GROUPS:
            groups[0][1].extend(actions)
        elif actions:
            groups.append((group.title, actions))
    out: list[str] = []
    for title, actions in groups:
        if not actions:
            continue
        if title is not None:
            out += [f"**{tr.text(title, lang, f'reap-omni {name}: the group title')}**", ""]
        out += [f"| {head[0]} | {head[1]} | {head[2]} |", "|---|---|---|"]
        for a in actions:
            where = f"reap-omni {name} {(a.option_strings or [a.dest])[0]}"
            out.append(f"| {_flag(a, fmt)} | {_default(a, lang)} | {_help(a, fmt, lang, tr, where)} |")
        out.append("")
    return "\n".join(out)


def load_zh(root: Path) -> dict[str, str]:
    """``docs/zh/flag_help.json``: English help -> Chinese help (missing file: none translated yet)."""
    from reap_omni.errors import InputError

    path = root / ZH_HELP_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a JSON object of English -> Chinese help texts: {exc}", path) from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise InputError("expected a JSON object of English -> Chinese help texts (strings)", path)
    return data


@dataclass
class Reference:
    """What the pages should hold, and every problem that regenerating cannot fix by itself."""

    expected: dict[Path, str]
    problems: list[str]

    def stale(self) -> list[Path]:
        return [p for p, text in self.expected.items() if p.read_text(encoding="utf-8") != text]


def build(root: Path, parser: argparse.ArgumentParser | None = None) -> Reference:
    """Every page of ``docs/{en,zh}`` with its reference blocks regenerated, and the problems found."""
    commands = subcommands(parser)
    tr = _Translations(load_zh(root))
    problems: list[str] = []
    expected: dict[Path, str] = {}
    homes: dict[str, list[str]] = {}
    blocks_of: dict[str, dict[str, list[str]]] = {}
    for lang in LANGS:
        for page in sorted((root / DOCS_DIR / lang).glob("*.md")):
            rel = page.relative_to(root).as_posix()
            text = page.read_text(encoding="utf-8")
            names = [m.group(2) for m in _BLOCK_RE.finditer(text)]
            blocks_of.setdefault(lang, {})[page.name] = names
            for name in names:
                if name not in commands:
                    problems.append(f"{rel}: <!-- reference:{name} --> names no reap-omni command: remove the block")
                elif lang == "en":
                    homes.setdefault(name, []).append(rel)

            def fill(m: re.Match[str], lang: str = lang) -> str:
                name = m.group(2)
                if name not in commands:
                    return m.group(0)
                return m.group(1) + render_command(name, commands[name], lang, tr) + m.group(4)

            new = _BLOCK_RE.sub(fill, text)
            if new != text or names:
                expected[page] = new
    for name in commands:
        where = homes.get(name, [])
        if not where:
            problems.append(f"reap-omni {name} has no <!-- reference:{name} --> <!-- /reference:{name} --> block in "
                            f"{DOCS_DIR}/en/*.md (nor its {DOCS_DIR}/zh twin): add one to the page of its group, then "
                            f"run {REGENERATE}")
        elif len(where) > 1:
            problems.append(f"reap-omni {name} has a reference block in several pages ({', '.join(where)}): keep one")
    en, zh = blocks_of.get("en", {}), blocks_of.get("zh", {})
    for page in sorted(set(en) | set(zh)):
        if en.get(page) != zh.get(page):
            problems.append(f"{DOCS_DIR}/en/{page} and {DOCS_DIR}/zh/{page} must hold the same reference blocks in "
                            f"the same order (en: {en.get(page)}, zh: {zh.get(page)})")
    problems += tr.missing() + tr.unused()
    return Reference(expected, problems)
