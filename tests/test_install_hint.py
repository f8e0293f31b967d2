"""The install hint names a command that works for how reap-omni is installed here."""

import shlex
from pathlib import Path

from reap_omni.install_hint import install_command

REPO = Path(__file__).resolve().parents[1]


def test_editable_checkout_gets_the_path_form():
    # the README (and CI) install the checkout with `pip install -e`: no index serves reap-omni
    argv = shlex.split(install_command("prune"))
    assert argv == ["pip", "install", "-e", f"{REPO}[prune]"]
    assert (Path(argv[-1].removesuffix("[prune]")) / "pyproject.toml").is_file()
