"""``reap-omni docs``: the flag tables of docs/{en,zh} are the parser's, and every way they can drift fails."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from reap_omni.cli import build_parser, reference, run

ROOT = Path(__file__).resolve().parents[2]


def _copy_docs(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("images", "*.py"))
    return tmp_path


def test_committed_pages_are_what_the_parser_renders():
    ref = reference.build(ROOT)
    assert not ref.problems, "\n".join(ref.problems)
    stale = [p.relative_to(ROOT).as_posix() for p in ref.stale()]
    assert not stale, f"flag tables out of date with the parser in {stale}: run `reap-omni docs`"


def test_every_command_and_flag_is_in_both_languages():
    commands = reference.subcommands()
    for lang in reference.LANGS:
        text = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs" / lang).glob("*.md")))
        for name, parser in commands.items():
            assert f"<!-- reference:{name} -->" in text, (lang, name)
            for action in parser._actions:
                for flag in action.option_strings:
                    if flag not in ("-h", "--help"):
                        assert f"`{flag}`" in text, (lang, name, flag)


def test_check_fails_on_an_edited_table_and_writing_repairs_it(tmp_path, capsys):
    root = _copy_docs(tmp_path)
    page = root / "docs" / "en" / "prune.md"
    committed = page.read_text(encoding="utf-8")
    page.write_text(committed.replace("| `--retention-rate` `RETENTION_RATE` | `0.5` |",
                                      "| `--retention-rate` `RETENTION_RATE` | `0.75` |"), encoding="utf-8")
    assert run(["docs", "--check", "--root", str(root)]) == 1
    assert "out of date with the parser: run reap-omni docs" in capsys.readouterr().err
    assert run(["docs", "--root", str(root)]) == 0
    assert page.read_text(encoding="utf-8") == committed
    assert run(["docs", "--check", "--root", str(root)]) == 0


def _with_new_flag() -> argparse.ArgumentParser:
    parser = build_parser()
    reference.subcommands(parser)["prune"].add_argument("--brand-new", type=int, default=3,
                                                        help="a help text | nobody translated")
    return parser


def test_a_new_flag_lands_in_both_tables_and_asks_for_its_chinese(tmp_path):
    root = _copy_docs(tmp_path)
    ref = reference.build(root, _with_new_flag())
    en, zh = ref.expected[root / "docs/en/prune.md"], ref.expected[root / "docs/zh/prune.md"]
    assert "| `--brand-new` `BRAND_NEW` | `3` | a help text \\| nobody translated |" in en
    assert "`--brand-new`" in zh
    assert ref.problems == [f'{reference.ZH_HELP_FILE}: no Chinese text for reap-omni prune --brand-new: '
                            f'"a help text | nobody translated"; add it, then run reap-omni docs']


def test_a_reworded_help_never_keeps_its_old_translation(tmp_path):
    root = _copy_docs(tmp_path)
    parser = build_parser()
    action = next(a for a in reference.subcommands(parser)["report"]._actions if "--no-plots" in a.option_strings)
    old = action.help
    action.help = "write report.md, report.json and nothing else"
    ref = reference.build(root, parser)
    assert any("no Chinese text for reap-omni report --no-plots" in p for p in ref.problems)
    assert any(f'"{old}" is no flag\'s help any more' in p for p in ref.problems)
    zh_page = ref.expected[root / "docs/zh/data.md"]
    assert json.loads((root / reference.ZH_HELP_FILE).read_text(encoding="utf-8"))[old] not in zh_page


def test_a_command_without_a_block_and_a_block_without_a_command_are_named(tmp_path):
    root = _copy_docs(tmp_path)
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.add_parser("brand-new-command")
    page = root / "docs" / "zh" / "heal.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n<!-- reference:gone -->\n<!-- /reference:gone -->\n",
                    encoding="utf-8")
    problems = reference.build(root, parser).problems
    assert any(p.startswith("reap-omni brand-new-command has no <!-- reference:brand-new-command -->")
               for p in problems)
    assert "docs/zh/heal.md: <!-- reference:gone --> names no reap-omni command: remove the block" in problems
    assert any(p.startswith("docs/en/heal.md and docs/zh/heal.md must hold the same reference blocks")
               for p in problems)


def test_cells_escape_markdown_and_show_defaults_as_argparse_has_them():
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("names", nargs="*", metavar="NAME", help="optional positionals are not required")
    parser.add_argument("--mode", choices=("a", "b"), default="a", help="2*3 <tag> `<code>` a|b")
    parser.add_argument("--on", action="store_true", help="a switch: no default shown")
    parser.add_argument("--need", required=True, help="needed (%(default)s expands)")
    table = reference.render_command("x", parser, "en", reference._Translations({}))
    assert "| `[NAME ...]` |  | optional positionals are not required |" in table
    assert "| `--mode` `{a,b}` | `a` | 2\\*3 &lt;tag> `<code>` a\\|b |" in table
    assert "| `--on` |  | a switch: no default shown |" in table
    assert "| `--need` `NEED` | required | needed (None expands) |" in table
    zh = reference.render_command("x", parser, "zh", reference._Translations({"a switch: no default shown": "开关"}))
    assert "| 参数 | 默认值 | 说明 |" in zh and "| `--on` |  | 开关 |" in zh and "| 必填 |" in zh


def test_a_broken_translation_file_is_one_line(tmp_path, capsys):
    root = _copy_docs(tmp_path)
    (root / reference.ZH_HELP_FILE).write_text('{"a": 1}', encoding="utf-8")
    assert run(["docs", "--check", "--root", str(root)]) == 2
    assert "flag_help.json: expected a JSON object of English -> Chinese help texts" in capsys.readouterr().err
