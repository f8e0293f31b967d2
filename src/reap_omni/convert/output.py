"""What every converter does around its output: safety checks before, a summary after.

Before writing: refuse an output that is one of the inputs, make sure the folder exists and is writable,
and clear temp files left by killed runs. After: a report that counts rows written, rows skipped by
``--skip-invalid`` and missing media, so nothing is ever dropped silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reap_omni.fileio import check_not_input, ensure_output_dir, remove_stale_temps
from reap_omni.manifest.record import RowErrors


def prepare_output(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]]) -> Path:
    """Check ``output`` against ``inputs`` and its folder, and remove stale temps there."""
    check_not_input(output, inputs)
    out = ensure_output_dir(output)
    remove_stale_temps(out.parent if str(out.parent) else ".")
    return out


@dataclass
class ConvertReport:
    """The outcome of one conversion, printed by the CLI and returned by the library functions."""

    output: str
    written: int = 0
    errors: RowErrors = field(default_factory=RowErrors)
    missing_media: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.errors.count

    def summary(self) -> str:
        lines = [f"wrote {self.written} row(s) to {self.output}"]
        lines.extend(self.notes)
        if self.errors.count:
            lines.append(self.errors.summary())
        return "\n".join(lines)
