"""The README's first commands are the contract CI follows: install, main job, tests."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _first_block(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readmes_start_with_install_main_job_and_test_commands():
    en, zh = _first_block(ROOT / "README.md"), _first_block(ROOT / "README_zh.md")
    assert en == zh
    *installs, main_job, test = en
    assert installs == ['pip install -e .', 'pip install -e ".[prune]"', 'pip install -e ".[dev,prune]"']
    assert main_job.startswith("python quickstart.py ")
    assert test == "python -m pytest"


def test_ci_runs_exactly_the_readme_install_and_test_commands():
    *installs, _, test = _first_block(ROOT / "README.md")
    install = installs[-1]  # the development setup, which the tests need
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert install in ci
    assert test in ci
    assert ci.index(install) < ci.index(test)


def test_both_readmes_have_the_same_sections():
    def sections(p: Path) -> list[str]:
        return re.findall(r"<!-- section:(\w+) -->", p.read_text(encoding="utf-8"))

    assert sections(ROOT / "README.md") == sections(ROOT / "README_zh.md")


def test_every_cli_command_is_documented_in_both_readmes():
    from reap_omni.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for readme in ("README.md", "README_zh.md"):
        text = (ROOT / readme).read_text(encoding="utf-8")
        missing = [c for c in sub.choices if f"`{c}`" not in text and f"reap-omni {c}" not in text]
        assert not missing, f"{readme} does not mention: {missing}"
