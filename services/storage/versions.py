"""S3 object versions on a storage node: where they live, how they are named and ordered.

A key's *latest* version, when it is an object, is the ordinary object file (layout.object_path):
every existing read path, the native API and the listing see it unchanged. Every other version
of the key (older objects and delete markers, and a delete marker that is the latest) is a file
of its own, with its ObjMeta in the same xattr, under the bucket incarnation's folder:

    <bucket dir>/%ov/<h[0:2]>/<h[2:4]>/<h>/<seq>

so destroying the bucket (or its incarnation) removes them with it. ``seq`` orders a key's
versions by the time they were written. A version id is ``seq`` itself for versions written
with versioning enabled (20 lowercase hex digits: nanoseconds since the epoch, then 4 digits of
the node), and ``null`` for the rest (written before versioning was enabled or while it was
suspended), whose seq comes from their write time. Pure functions and a clock; no I/O here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time

from aismesh.cmn.names import Bck
from aismesh.cmn.s3versions import ENABLED, NULL, SUSPENDED, is_valid_vid, is_vid, vid_for
from aismesh.protos import metadata_pb2
from services.storage import layout
from services.storage.objmeta import ObjMeta

VER_DIR = "%ov"


def seq_for(version: str, mtime_ns: int) -> str:
    """Where a version sorts among its key's versions (later written sorts higher)."""
    return version if is_vid(version) else f"{max(mtime_ns, 0):016x}0000"


def vid_of(meta: ObjMeta) -> str:
    return vid_for(meta.version)


def seq_of(meta: ObjMeta) -> str:
    return seq_for(meta.version, meta.mtime_ns)


def bmd_s3_modes(bmd: metadata_pb2.BMD) -> dict[tuple[str, int], str]:
    """(uname, bid) -> S3 versioning status of the BMD's buckets that have one."""
    out = {}
    for b in bmd.buckets:
        try:
            props = json.loads(b.props_json) if b.props_json else {}
        except ValueError:
            continue  # membership.validated_reads logs unreadable props
        if not isinstance(props, dict):
            continue
        extra = props.get("extra")
        s3 = extra.get("s3") if isinstance(extra, dict) else None
        mode = s3.get("versioning") if isinstance(s3, dict) else None
        if mode in (ENABLED, SUSPENDED):
            out[(Bck.from_proto(b.bck).uname, b.bid)] = str(mode)
    return out


__all__ = ["ENABLED", "NULL", "SUSPENDED", "VER_DIR", "VidClock", "bmd_s3_modes", "is_valid_vid", "is_vid",
           "key_dir", "seq_for", "seq_of", "version_path", "vid_for", "vid_of"]


def key_dir(mountpath: str, bck: Bck, bid: int, name: str) -> str:
    h = layout.name_hash(name)
    return os.path.join(layout.bucket_dir(mountpath, bck, bid), VER_DIR, h[:2], h[2:4], h)


def version_path(mountpath: str, bck: Bck, bid: int, name: str, seq: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{20}", seq):
        raise ValueError(f"not a version sequence: {seq!r}")
    return os.path.join(key_dir(mountpath, bck, bid, name), seq)


class VidClock:
    """Issues version ids that only grow on this node, even when the wall clock steps back."""

    def __init__(self, node_id: str) -> None:
        self._suffix = hashlib.sha256(node_id.encode()).hexdigest()[:4]
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._last = max(time.time_ns(), self._last + 1)
            return f"{self._last:016x}{self._suffix}"
