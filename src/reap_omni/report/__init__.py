"""``reap-omni report``: what any folder of manifests holds, recomputed from the manifests; builds nothing.

``write`` (the command's entry: ``write_report``), ``summary`` (the numbers), ``media`` (probed facts per
row, cached), ``markdown`` and ``plots`` (the outputs).
"""
