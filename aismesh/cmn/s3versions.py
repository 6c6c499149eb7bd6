"""S3 version ids as aismesh issues them, shared by the storage nodes and the S3 front end.

An issued id is 20 lowercase hex digits (nanoseconds since the epoch, then 4 digits naming the
node): opaque to clients, URL-safe, and sortable by the time its version was written. ``null``
names the version written while a bucket had no S3 versioning (or had it suspended).
"""

from __future__ import annotations

import re

NULL = "null"
ENABLED, SUSPENDED = "Enabled", "Suspended"
_VID = re.compile(r"[0-9a-f]{20}")


def is_vid(value: str) -> bool:
    """An id this mesh issues (not ``null``)."""
    return bool(_VID.fullmatch(value))


def is_valid_vid(value: str) -> bool:
    """What a client may name: an issued id or ``null``."""
    return value == NULL or is_vid(value)


def vid_for(version: str) -> str:
    """The S3 version id of a stored object whose AIS version is ``version`` (an issued id when
    written with S3 versioning enabled; AIS's counter, or nothing, otherwise: ``null``)."""
    return version if is_vid(version) else NULL
