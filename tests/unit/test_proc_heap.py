"""keep_buffers_in_heap: the gateway asks glibc to keep 1 MiB buffers in its heap, unless the
environment already tunes glibc's thresholds itself."""

from __future__ import annotations

import os
import subprocess
import sys

CALL = "from aismesh.cmn.proc import keep_buffers_in_heap; print(keep_buffers_in_heap())"


def _run(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", CALL], capture_output=True, text=True, check=True, timeout=60,
                          env=env)
    return done.stdout.strip()


def test_set_on_glibc() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert _run(env) == "True"


def test_the_environment_s_own_glibc_tuning_wins() -> None:
    for var in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        env[var] = "131072"
        assert _run(env) == "False"
