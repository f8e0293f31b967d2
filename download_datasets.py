#!/usr/bin/env python3
"""Seed-compatible download script: ``python download_datasets.py --list``,
``--dataset A B C | all``, ``--modality audio|video|mixed|all``, ``--output DIR``, ``--samples N`` and the
rest of ``reap-omni download``'s options. A thin shim over ``reap_omni``."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

if __name__ == "__main__":
    from reap_omni.cli import main

    argv = sys.argv[1:]
    if "--list" in argv:  # the seed's --list is the catalog's `list` command
        main([a for a in argv if a != "--list"], prog="download_datasets.py --list", command="list")
    main(argv, prog="download_datasets.py", command="download")
