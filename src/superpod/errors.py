"""The error family a user can act on.

Every error a user can cause (an unknown name, a malformed file, an impossible plan)
is a ``SuperpodError``; the CLI prints its message on one line and exits with code 2.
Anything else is a bug and keeps its traceback.

Each kind of "no result" has its own type (docs/conventions.md, "Errors"), a subclass of
the class it was raised as before, so ``except InfeasiblePlanError`` keeps catching them:

=========================  =========================================================
``DoesNotFitError``        the model, its KV cache or its activations do not fit in memory
``NoFeasiblePlanError``    a plan search found no plan that obeys the layout rules
``SloUnreachableError``    no batch / plan meets a TTFT or TPOT target
``UnsupportedFeatureError`` something superpod cannot express (an architecture, an activation)
``InvalidOptionError``     an option value superpod does not accept (also a ``ValueError``)
=========================  =========================================================
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
    """A plan that cannot run: bad divisibility, too little memory, unmet SLO (see the subclasses)."""


class DoesNotFitError(InfeasiblePlanError):
    """Weights, KV cache, activations or optimizer state do not fit in the chips' memory."""


class NoFeasiblePlanError(InfeasiblePlanError):
    """A plan search found nothing: no candidate obeys the layout rules (divisibility, degrees)."""


class SloUnreachableError(InfeasiblePlanError):
    """A TTFT or TPOT target that no batch or plan meets; the message gives the best reachable."""


class UnsupportedFeatureError(SpecError):
    """Something superpod cannot express (a model architecture, an activation, a feature)."""


class InvalidOptionError(InfeasiblePlanError, ValueError):
    """An option value superpod does not accept: out of range, unknown choice, wrong multiple.

    Subclasses ``InfeasiblePlanError`` (what bad options were raised as before) and
    ``ValueError``. No unknown option value is ever replaced by a default.
    """
