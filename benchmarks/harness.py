"""A small shared harness for side-by-side benchmarks: warm-up, repeats, median, ratio, and
peak memory.

Every benchmark runs the anchor (what a user would otherwise write or install) and our code on
the same data in one process, and prints ours / anchor ratios: < 1 means we are faster or lighter.
"""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, warmup: int = 5, repeats: int = 30) -> float:
    """Median wall time of fn() over `repeats` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class MemoryProfile:
    peak_bytes: int  # highest allocation level above the level at the start of fn
    retained_bytes: int  # still allocated when fn returns (e.g. tensors saved for backward)
    allocated_bytes: int  # sum of every allocation fn made (temporaries included)


def memory_profile(fn: Callable[[], object], device: torch.device) -> MemoryProfile:
    """Peak and retained memory that fn() allocates, from the allocator's event timeline.

    On CUDA this is torch.cuda.max_memory_allocated; on CPU the profiler records every
    allocation and free with its size, and the running sum gives the same quantity.
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        allocated_before = torch.cuda.memory_stats(device)["allocated_bytes.all.allocated"]
        result = fn()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - start
        retained = torch.cuda.memory_allocated(device) - start
        allocated = torch.cuda.memory_stats(device)["allocated_bytes.all.allocated"] - allocated_before
        del result
        return MemoryProfile(peak, retained, allocated)
    holder = []
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        holder.append(fn())
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
        key=lambda e: e.start_ns(),
    )
    level = peak = allocated = 0
    for event in events:
        level += event.nbytes()
        peak = max(peak, level)
        allocated += max(event.nbytes(), 0)
    return MemoryProfile(peak, level, allocated)


def machine_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table, ready to paste into benchmarks/README.md."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
