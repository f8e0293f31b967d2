"""User-facing errors.

Every mistake a user can make (bad input row, missing file, wrong flag combination) is raised as a
``ReapOmniError``. The CLI prints it as one line and exits non-zero, with no traceback; so is an ``OSError`` no
command wrapped (the environment refused a path). Anything else escaping to the CLI is a bug in reap-omni and
keeps its traceback.
"""

from __future__ import annotations

import os


class ReapOmniError(Exception):
    """An error caused by the user's input or environment; printed as one line."""

    exit_code = 2


class InputError(ReapOmniError):
    """A problem located in an input file, optionally at a line (1-based) or row."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None, line: int | None = None):
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.line = line
        super().__init__(self.location_prefix() + message)

    def location_prefix(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "


class ValidationFailed(ReapOmniError):
    """A validator found errors; they were already printed, this carries the summary."""

    exit_code = 1


def format_location(path: str | os.PathLike[str], line: int | None = None) -> str:
    """``file:line`` as every error message in reap-omni spells it."""
    return f"{os.fspath(path)}:{line}" if line is not None else os.fspath(path)
