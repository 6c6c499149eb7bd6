"""Node logs (``GET /v1/reverse/daemon?what=log``, header ``Ais-Node-Id``): ``get_node_log()``.

Every service of a local mesh writes ``<data>/logs/<name>.log`` (t1.log, gateway.log): the
launcher points the gateway's stderr there, so the folder is found from this process's own
stderr. Where that is not a file (a container logging to its console) the logs are not
reachable from here and the answer says so.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile

from aismesh.cmn import errors

TAIL_BYTES = 4 << 20


def _logs_dir() -> str:
    try:
        path = os.readlink("/proc/self/fd/2")
    except OSError:
        return ""
    return os.path.dirname(path) if path.endswith(".log") and os.path.isfile(path) else ""


def log_path(node_id: str, file_stem: str) -> str:
    folder = _logs_dir()
    if not folder:
        raise errors.NotFound(f"the log of node {node_id} is not reachable from the gateway (its services do not "
                              "write log files here; see the container's console)")
    path = os.path.join(folder, f"{file_stem}.log")
    if not os.path.isfile(path):
        raise errors.NotFound(f"node {node_id} has no log file")
    return path


def tail(path: str) -> bytes:
    """The last TAIL_BYTES of the log (the whole of a smaller one)."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - TAIL_BYTES))
        return f.read()


def archive(path: str) -> bytes:
    """The log as a .tar.gz (``all=true``), as AIS sends its rotated logs."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as t:
        t.add(path, arcname=os.path.basename(path))
    return out.getvalue()
