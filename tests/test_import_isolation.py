"""The data toolkit must work without the [prune] extra: none of its modules may import torch/transformers."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import reap_omni

#: The rooms that run the model (the [prune] extra)...
MODEL_SIDE = ("reap_omni.prune.", "reap_omni.model.", "reap_omni.evaluate.")
#: ...and their modules the CLI uses before torch loads (checking a model folder, parsing the placement flags).
TORCH_FREE = ("reap_omni.prune", "reap_omni.model", "reap_omni.evaluate", "reap_omni.model.info",
              "reap_omni.model.placement", "reap_omni.model.preflight", "reap_omni.model.st_stream",
              "reap_omni.evaluate.recovery")


def test_data_toolkit_does_not_import_torch_or_transformers():
    modules = sorted(
        m.name for m in pkgutil.walk_packages(reap_omni.__path__, "reap_omni.")
        if (not m.name.startswith(MODEL_SIDE) or m.name in TORCH_FREE)
        and m.name != "reap_omni.fixtures.pytest_plugin" and not m.name.endswith("__main__")
    )
    assert "reap_omni.cli.prune_cmds" in modules and "reap_omni.manifest.record" in modules
    assert set(TORCH_FREE) <= set(modules)
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
