"""Process plumbing shared by the launcher and the services."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess

_PR_SET_PDEATHSIG = 1


def gateway_workers() -> int:
    """The gateway's default worker processes: one per CPU, at least two. Measured on two
    cores (docs/performance.md): 2 workers served 1 MiB GETs 24% faster and small PUTs 18%
    faster than 4, with 232 instead of 355 MB for the gateway's processes under 16 MiB loads."""
    return max(2, len(os.sched_getaffinity(0)))


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Buffers up to this size come from the heap, which keeps up to TRIM of free memory.
HEAP_BUFFERS = 4 << 20
HEAP_TRIM = 32 << 20


def keep_buffers_in_heap(mmap_threshold: int = HEAP_BUFFERS, trim_threshold: int = HEAP_TRIM) -> bool:
    """Have glibc serve allocations up to ``mmap_threshold`` from its heap and keep up to
    ``trim_threshold`` of freed heap, instead of mapping each large buffer (a 1 MiB piece of a
    body or an object) and unmapping it when freed: every fresh mapping is zeroed and faulted
    in again, 4 KiB at a time. Measured (docs/performance.md): the gateway's CPU per 1 MiB PUT
    3.4 -> 1.9 ms. Left alone when the environment sets glibc's own MALLOC_*_THRESHOLD_, and
    where there is no glibc. True when set."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def die_with_parent(sig: int = signal.SIGTERM, parent_pid: int = 0) -> None:
    """In a child: have the kernel send ``sig`` when the parent dies, even by SIGKILL (no orphans).

    With ``parent_pid``, exit at once when that parent is already gone (it died before the call)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig)
    if parent_pid and os.getppid() != parent_pid:
        os._exit(1)


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL after ``grace_s``; True when it had to be killed."""
    if proc.poll() is not None:
        return False
    proc.terminate()
    try:
        proc.wait(grace_s)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True
