"""Host memory of a system: the DRAM beside the accelerators that a caching tier uses.

CloudMatrix-Infer's Elastic Memory Service (Zuo et al., arXiv 2506.12708) pools the Kunpeng
hosts' DRAM of a whole CloudMatrix 384 over the UnifiedBus: every NPU reaches every node's
memory (``pooled = true``). A GB200/GB300 tray's Grace LPDDR5X hangs off NVLink-C2C and an
HGX server's DDR5 off PCIe: a per-node tier (``pooled = false``), reached by the chips of
that node only. A system file holds it as ``[host_memory]``; every number is sourced.

* ``dram_bytes_per_node``: host DRAM of one node (the system's ``chips_per_node`` chips);
* ``dram_Bps_per_node``: the rate at which that memory serves the accelerators (the lesser
  of the DRAM channels and the CPUs' links to the accelerators), per direction;
* ``path_Bps_per_chip``: one chip's link to host memory (UB, NVLink-C2C, PCIe), per direction;
* ``cache_share``: the share of the DRAM given to the KV/model cache (the rest: OS, framework,
  staging buffers);
* ``storage_Bps_per_node``: a node's read path from storage (cold start of model weights).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from superpod.spec.quantity import Bandwidth, Bytes, Ratio


class HostMemory(BaseModel):
    """Host DRAM per node and the accelerator-to-host path (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    technology: str = Field(min_length=2, description="e.g. 'Kunpeng DDR4 over UB', 'Grace LPDDR5X over NVLink-C2C'")
    path: str = Field(min_length=2, description="the accelerator-to-host link: UB, NVLink-C2C, PCIe Gen5")
    pooled: bool = Field(description="true: one pool every chip of the scale-up domain reaches; false: per node")
    description: str = ""
    dram_bytes_per_node: Bytes
    dram_Bps_per_node: Bandwidth
    path_Bps_per_chip: Bandwidth
    cache_share: Ratio
    storage_Bps_per_node: Bandwidth

    @model_validator(mode="after")
    def _share(self) -> "HostMemory":
        if not 0.0 < self.cache_share.si <= 1.0:
            raise ValueError(f"cache_share must be in (0, 1], got {self.cache_share.si:g}")
        return self

    def chip_Bps(self, chips_per_node: int) -> float:
        """What one chip sustains to host memory when all chips of a node fetch at once:
        its own link, or its share of the node's host-memory bandwidth, whichever is less."""
        return min(self.path_Bps_per_chip.si, self.dram_Bps_per_node.si / chips_per_node)

    def cache_bytes_per_node(self) -> float:
        return self.dram_bytes_per_node.si * self.cache_share.si
