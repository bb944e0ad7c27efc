"""The error family a user can act on.

Every error a user can cause (an unknown name, a malformed file, an impossible plan)
is a ``SuperpodError``; the CLI prints its message on one line and exits with code 2.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class SuperpodError(Exception):
    """Base class: a problem with what the user asked for, explained in one line."""


class SpecError(SuperpodError):
    """A catalog or user file is malformed or holds an invalid value."""


class UnknownNameError(SuperpodError):
    """A name that is neither in the catalog nor an existing file."""


class UnsupportedPrecisionError(SuperpodError):
    """The chip has no units for the requested number format."""


class InfeasiblePlanError(SuperpodError):
    """A plan that cannot run: bad divisibility, too little memory, unmet SLO."""
