"""Process plumbing shared by the launcher and the services."""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM, parent_pid: int = 0) -> None:
    """In a child: have the kernel send ``sig`` when the parent dies, even by SIGKILL (no orphans).

    With ``parent_pid``, exit at once when that parent is already gone (it died before the call)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig)
    if parent_pid and os.getppid() != parent_pid:
        os._exit(1)
