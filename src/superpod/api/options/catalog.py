"""Options of the catalog and evidence commands (``compare``, ``validate``, ``calibration``) and of
the faces that show them (``report``, ``ui``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Optional

from pydantic import field_validator

from superpod.api.options.base import Options, _as_list, opt
from superpod.errors import SuperpodError

# ---------------------------------------------------------------------------- catalog commands

class CompareOptions(Options):
    """``superpod compare`` / :func:`superpod.compare`."""

    positional: ClassVar = ("systems",)
    systems: list[str] = opt(help="Two or more systems; NAME@N sizes one to N chips.", argument=True, metavar="SYSTEM...", min_length=1)
    chips: Optional[int] = opt(None, "Size every system to N chips (filling nodes first; clusters grow, fixed systems "
                                     "become copies).", unit="chips", ge=1)

    _as_list = field_validator("systems", mode="before")(_as_list)


class ValidateOptions(Options):
    """``superpod validate`` / :func:`superpod.validate`."""

    group: Optional[str] = opt(None, "training | serving | silicon (measured serving runs); default: training and "
                                     "serving.", argument=True, metavar="GROUP")
    file: Optional[str] = opt(None, "silicon only: a CSV of measured runs in AIConfigurator's silicon_sample.csv "
                                    "format (default: the public file shipped with superpod).", argument=True,
                              metavar="FILE.csv")
    groups: Optional[list[str]] = opt(None, "Only these groups (training, serving).", flag="--group")

    _as_list = field_validator("groups", mode="before")(_as_list)


class CalibrationOptions(Options):
    """``superpod calibration`` / :func:`superpod.calibration`."""

    holdout: Optional[Literal["h100_sxm", "h200_sxm", "b200_sxm", "gb200", "b300_sxm", "gb300"]] = opt(
        None, "A measured GPU (AIConfigurator name) to leave out: report each kernel table's error on it with the "
              "parameters fitted without it (recorded by the fits, which need the full tables).", metavar="GPU")
    refit: bool = opt(False, "With --holdout: refit every kernel model on the shipped samples without that GPU "
                             "and report its error (about 60 s; needs a source checkout and the 'fit' extra).")
    worst: int = opt(3, "Worst shapes listed per kernel table.", ge=0, le=50)

    def check(self, name) -> None:
        if self.refit and self.holdout is None:
            raise SuperpodError(f"{name('refit')} needs {name('holdout')} GPU (the GPU to leave out)")


# ---------------------------------------------------------------------------- report (faces)

class ReportOptions(Options):
    """``superpod report``: a self-contained static HTML page of the compare, train, serve, scale, claims and
    validation views."""

    html: Path = opt(help="Output file (.html): plots inline, opens with no network.", flag="--html",
                     metavar="OUT.html", strict=False)
    systems: list[str] = opt(["cloudmatrix384", "gb200-nvl72"], "Systems to compare (repeat the flag).",
                             flag="--systems")
    model: str = opt("deepseek-v3", "Model to train, serve and scale (catalog name or config file).")
    chips: Optional[int] = opt(384, "Size every system to N chips for compare and train (0: each system's own size).",
                               unit="chips", ge=0)
    silicon: bool = opt(True, "Include the measured-silicon validation scatter (about 5 s).",
                        flag="--silicon/--no-silicon")

    _as_list = field_validator("systems", mode="before")(_as_list)

    def check(self, name) -> None:
        if self.html.suffix.lower() not in (".html", ".htm"):
            raise SuperpodError(f"{name('html')} must end in .html, got {self.html.name!r}")
        if not self.systems:
            raise SuperpodError(f"{name('systems')}: give at least one system")


class UiOptions(Options):
    """``superpod ui``: the Streamlit dashboard (optional extra ``superpod[ui]``)."""

    port: int = opt(8501, "Port on 127.0.0.1 to serve the dashboard on.", ge=1, le=65535)
