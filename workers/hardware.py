"""What a worker runs on (GPU kind and memory, or the CPU and its RAM), and memory sampling on CPU."""

from __future__ import annotations

import os
import platform
import resource
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

__all__ = ["WorkerHardware", "current_rss_bytes", "detect_hardware"]


@dataclass(frozen=True, slots=True)
class WorkerHardware:
    """``device`` is ``cuda`` or ``cpu``; ``memory_bytes`` is the GPU's memory or the machine's RAM."""

    device: str
    name: str
    memory_bytes: int
    count: int
    hostname: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ram_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


@lru_cache(maxsize=1)
def detect_hardware() -> WorkerHardware:
    import torch

    hostname = platform.node()
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        return WorkerHardware(
            device="cuda",
            name=str(properties.name),
            memory_bytes=int(properties.total_memory),
            count=torch.cuda.device_count(),
            hostname=hostname,
        )
    return WorkerHardware(
        device="cpu",
        name=platform.processor() or platform.machine(),
        memory_bytes=_ram_bytes(),
        count=0,
        hostname=hostname,
    )


def current_rss_bytes() -> int:
    """This process's resident set size now (Linux ``/proc/self/statm``; else the lifetime peak)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
