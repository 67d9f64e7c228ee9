"""What a worker runs on (GPU kind and memory, or the CPU and its RAM), and memory sampling on CPU."""

from __future__ import annotations

import os
import platform
import resource
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

__all__ = ["WorkerHardware", "catalog_gpu_id", "current_rss_bytes", "detect_hardware", "measured_hardware"]


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


def catalog_gpu_id(device_name: str, memory_bytes: int) -> str | None:
    """The hardware-catalog id of a CUDA device from the name torch reports (None when unknown).

    e.g. "NVIDIA H100 80GB HBM3" -> H100-SXM, "NVIDIA A100-SXM4-40GB" -> A100-40GB, "Tesla T4" -> T4.
    """
    name = device_name.upper()
    rules = (
        ("H200", "H200"),
        ("H100", "H100-PCIe" if "PCIE" in name else "H100-SXM"),
        ("A100", "A100-80GB" if memory_bytes > 50 * 2**30 else "A100-40GB"),
        ("L40S", "L40S"),
        ("A10G", "A10G"),
        ("4090", "RTX-4090"),
        ("T4", "T4"),
        ("L4", "L4"),
    )
    for token, gpu in rules:
        if token in name.replace(" ", ""):
            return gpu
    return None


def measured_hardware(hardware: WorkerHardware) -> dict[str, Any]:
    """The hardware a run really used, as a measurement records it in place of the candidate's request:
    a catalog GPU id (None on a CPU or an unknown GPU), how many, the device and the name it reports."""
    on_gpu = hardware.device == "cuda"
    return {
        "gpu": catalog_gpu_id(hardware.name, hardware.memory_bytes) if on_gpu else None,
        "count": max(1, hardware.count) if on_gpu else 0,
        "device": hardware.device,
        "device_name": hardware.name,
    }
