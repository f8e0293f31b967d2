#!/usr/bin/env python3
"""Seed-compatible conversion script: ``python convert_utils.py csv|json|folder|merge|split|validate|
msswift|qa-msswift|validate-msswift ...`` and the seed's Python API. A thin shim over ``reap_omni``."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

from reap_omni.convert.msswift import (  # noqa: E402,F401 - the seed's public API
    convert_qa_to_msswift,
    convert_unified_to_msswift,
    create_msswift_sample,
    validate_msswift_format,
)

if __name__ == "__main__":
    from reap_omni.cli import CONVERT_COMMANDS, main

    main(prog="convert_utils.py", only=CONVERT_COMMANDS)
