#!/usr/bin/env python3
"""Seed-compatible entry point: ``python reap_expert_pruning.py --model-path M --output-path O ...``.

A thin shim over ``reap-omni prune``; it works from a source checkout without installing the package.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

from reap_omni.cli import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:], prog="reap_expert_pruning.py", command="prune")
