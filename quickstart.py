#!/usr/bin/env python3
"""Seed-compatible quick start: ``python quickstart.py --output ./calibration_data --samples 100`` downloads the
recommended calibration mix; ``--demo`` runs it offline against a generated local Hub. A thin shim over
``reap_omni``."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

if __name__ == "__main__":
    from reap_omni.cli import main

    main(["quickstart", *sys.argv[1:]], prog="quickstart.py", only=["quickstart"])
