"""The numbers the cost layer reads from a sized system, in SI, with calibration attached.

:class:`Hardware` is a flat, immutable view of a :class:`~superpod.spec.system.SizedSystem`:
per-chip peaks and memory, and one :class:`Tier` per fabric level (innermost first) with
its per-chip bandwidth after oversubscription, latency, topology and communication
efficiencies. Cost functions take a ``Hardware``; tests make variants with
:func:`dataclasses.replace` (e.g. double the HBM bandwidth) to check monotonicity.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod

from superpod.errors import UnsupportedPrecisionError
from superpod.spec.chip import Chip
from superpod.spec.system import SizedSystem
from superpod.spec.calibration import CommProfile, KernelProfile, comm_profile, kernel_profile

#: bytes per element of each number format
BYTES = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5}


@dataclass(frozen=True)
class Tier:
    """One fabric tier as the cost layer sees it (SI, per chip, per direction)."""

    name: str
    topology: str
    domain: float  # chips per domain (inf: grows)
    bw_Bps: float  # per chip per direction, after oversubscription
    latency_s: float
    in_network_reduction: bool
    hops: float  # mean hops of an all-to-all inside the tier (1 for switched / full mesh)
    comm: CommProfile


@dataclass(frozen=True)
class Hardware:
    """A system's numbers for cost functions; see the module docstring."""

    name: str
    chip: str
    n_chips: int
    peak_flops: dict[str, float]
    hbm_bytes: float
    hbm_Bps: float
    tiers: tuple[Tier, ...]
    scaleup_domain: float
    kernels: KernelProfile = field(repr=False)
    ranks_per_chip: int = 1  # devices a framework addresses per package (a 910C holds two)

    @classmethod
    def of(cls, sized: SizedSystem) -> "Hardware":
        s = sized.system
        chip = s.chip
        peaks = {p: getattr(chip, f"{p}_flops").si for p in chip.precisions()}
        tiers = tuple(
            Tier(
                name=t.name,
                topology=t.topology,
                domain=t.domain,
                bw_Bps=t.effective_bw_per_chip_Bps,
                latency_s=t.latency_s.si,
                in_network_reduction=t.in_network_reduction,
                hops=_mean_hops(t.topology, t.dims),
                comm=comm_profile(t.name),
            )
            for t in s.tiers
        )
        return cls(
            name=s.name,
            chip=chip.name,
            n_chips=sized.n_chips,
            peak_flops=peaks,
            hbm_bytes=chip.hbm_bytes.si,
            hbm_Bps=chip.hbm_Bps.si,
            tiers=tiers,
            scaleup_domain=min(s.scaleup_domain, sized.n_chips),
            kernels=kernel_profile(chip.name),
            ranks_per_chip=chip.ranks,
        )

    @classmethod
    def of_chip(cls, chip: Chip) -> "Hardware":
        """One chip on its own (no fabric): for kernel-level costs and microbenchmarks."""
        return cls(
            name=chip.name,
            chip=chip.name,
            n_chips=1,
            peak_flops={p: getattr(chip, f"{p}_flops").si for p in chip.precisions()},
            hbm_bytes=chip.hbm_bytes.si,
            hbm_Bps=chip.hbm_Bps.si,
            tiers=(),
            scaleup_domain=1,
            kernels=kernel_profile(chip.name),
            ranks_per_chip=chip.ranks,
        )

    def peak(self, precision: str, fix: str | None = None) -> float:
        """Dense peak FLOP/s in ``precision``; the one precision check: a chip without such
        units raises :class:`UnsupportedPrecisionError` saying what it supports (or ``fix``)."""
        try:
            return self.peak_flops[precision]
        except KeyError:
            where = self.chip if self.name == self.chip else f"{self.chip} ({self.name})"
            raise UnsupportedPrecisionError(
                f"{where} has no {precision} units; {fix or 'it supports ' + ', '.join(self.peak_flops)}"
            ) from None

    def scaled(self, *, peak: float = 1.0, hbm_Bps: float = 1.0, fabric_Bps: float = 1.0, latency: float = 1.0) -> "Hardware":
        """A copy with peaks, HBM bandwidth, fabric bandwidth or latency multiplied (what-if studies)."""
        return replace(
            self,
            peak_flops={k: v * peak for k, v in self.peak_flops.items()},
            hbm_Bps=self.hbm_Bps * hbm_Bps,
            tiers=tuple(replace(t, bw_Bps=t.bw_Bps * fabric_Bps, latency_s=t.latency_s * latency) for t in self.tiers),
        )


def _mean_hops(topology: str, dims: list[int] | None) -> float:
    """Mean hops of uniform all-to-all traffic inside one tier (formulas.md sec. 6).

    Switched fabrics and full meshes deliver in one hop. A 2D full mesh n1 x n2 forwards
    off-row/off-column traffic once: h = [(n1-1) + (n2-1) + 2(n1-1)(n2-1)] / (N-1)
    (8 x 8 rack: 1.78). A torus (ring per dimension) averages about n/4 hops per dimension.
    """
    if not dims or topology not in ("nd-full-mesh", "torus"):
        return 1.0
    n = prod(dims)
    if n <= 1:
        return 1.0
    if topology == "torus":
        return max(1.0, sum(d / 4 for d in dims))
    # dimension-ordered routing: a destination differing in j dimensions takes j hops
    import itertools

    total = 0.0
    for differ in itertools.product(*[(0, 1)] * len(dims)):
        count = prod((d - 1) if x else 1 for d, x in zip(dims, differ))
        total += count * sum(differ)
    return total / (n - 1)
