"""The data toolkit must work without the [prune] extra: none of its modules may import torch/transformers."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import reap_omni


def test_data_toolkit_does_not_import_torch_or_transformers():
    modules = sorted(
        m.name for m in pkgutil.walk_packages(reap_omni.__path__, "reap_omni.")
        if not m.name.startswith(("reap_omni.prune", "reap_omni.fixtures.pytest_plugin"))
        and not m.name.endswith("__main__")
    )
    assert "reap_omni.cli.prune_cmds" in modules and "reap_omni.manifest.record" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from reap_omni.cli import build_parser\n"
        "build_parser()\n"
        "bad = sorted(m for m in ('torch', 'transformers', 'torchvision', 'safetensors') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "", f"data-toolkit import pulled in: {proc.stdout.strip()}"
