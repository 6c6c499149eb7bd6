"""Where a storage node keeps things on a mountpath. Pure path arithmetic, no I/O.

    <mountpath>/@<provider>/<@uuid#ns>/<bucket>/<bid>/%ob/<h[0:2]>/<h[2:4]>/<h>   object data
    <mountpath>/.aismesh/work/            temp files of PUTs in flight (same filesystem: atomic rename)
    <mountpath>/.aismesh/mpu/<upload id>/ parts of multipart uploads
    <mountpath>/.aismesh/trash/           bucket folders being deleted
    <mountpath>/.aismesh/index.db         the listing index (see index.py)

Object names are arbitrary UTF-8 (``..``, leading ``/``, ``//``, 300-byte components, both
``a`` and ``a/b``), so they never become paths: the file is named by sha256 of the name, and
the name itself lives in the metadata xattr. Nothing a client sends can escape the bucket folder.
"""

from __future__ import annotations

import hashlib
import os

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.names import Bck

SYS_DIR = ".aismesh"
OBJ_DIR = "%ob"


def _safe_segment(value: str, what: str) -> str:
    if not value or value in (".", "..") or "/" in value or "\x00" in value:
        raise InvalidArgument(f'invalid {what} "{value}" for a folder name')
    return value


def bucket_dir(mountpath: str, bck: Bck, bid: int) -> str:
    """The folder holding one incarnation (bid) of a bucket on one mountpath."""
    return os.path.join(
        mountpath, "@" + _safe_segment(bck.provider, "provider"), _safe_segment(bck.ns_wire, "namespace"),
        _safe_segment(bck.name, "bucket name"), str(int(bid)),
    )


def name_hash(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def object_path(mountpath: str, bck: Bck, bid: int, name: str) -> str:
    h = name_hash(name)
    return os.path.join(bucket_dir(mountpath, bck, bid), OBJ_DIR, h[:2], h[2:4], h)


def sys_path(mountpath: str, *parts: str) -> str:
    return os.path.join(mountpath, SYS_DIR, *parts)


def bucket_key(bck: Bck, bid: int) -> str:
    """The listing index's key for one incarnation of a bucket."""
    return f"{bck.uname}@{int(bid)}"


def parse_bucket_dir(mountpath: str, path: str) -> tuple[Bck, int] | None:
    """Inverse of bucket_dir for cleanup walks; None for anything else."""
    rel = os.path.relpath(path, mountpath).split(os.sep)
    if len(rel) != 4 or not rel[0].startswith("@") or not rel[3].isdigit():
        return None
    uuid, _, ns = rel[1].removeprefix("@").partition("#")
    return Bck(name=rel[2], provider=rel[0][1:], ns_uuid=uuid, ns_name=ns), int(rel[3])
