"""Per-object metadata in one extended attribute next to the data (the truth about an object).

``user.ais.meta`` holds one compact JSON object (see ObjMeta): name, size, checksum type and
value, version, atime/mtime in Unix ns, content type, custom metadata, the S3 ETag and what a
remote backend reported. The listing index (index.py) is rebuilt from these when in doubt.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass, field, fields

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.localread import OBJECT_META_XATTR
from aismesh.protos import types_pb2

XATTR = OBJECT_META_XATTR


@dataclass
class ObjMeta:
    name: str
    size: int
    cks_type: str
    cks_value: str
    version: str
    atime_ns: int
    mtime_ns: int
    content_type: str = ""
    custom: dict[str, str] = field(default_factory=dict)
    etag: str = ""
    remote_etag: str = ""
    remote_version: str = ""
    remote_mtime_ns: int = 0
    # S3 versioning: this file is a delete marker (no data), kept among a key's older versions.
    delete_marker: bool = False

    def encode(self) -> bytes:
        # Not dataclasses.asdict: its deep copy of every field was a tenth of a small PUT's
        # Python on the node. The fields are plain values; custom is a str -> str dict.
        doc = {name: getattr(self, name) for name in _NAMES}
        if not self.delete_marker:
            del doc["delete_marker"]  # every object but a marker keeps the xattr it always had
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> ObjMeta:
        """Parse the xattr; keys a newer node added are ignored, so a downgrade still reads it."""
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("object metadata is not a JSON object")
        return cls(**{k: v for k, v in doc.items() if k in _FIELDS})

    def to_attrs(self, location: str = "") -> types_pb2.ObjAttrs:
        return types_pb2.ObjAttrs(
            name=self.name, size=self.size, checksum=types_pb2.Checksum(type=self.cks_type, value=self.cks_value),
            version=self.version, atime_ns=self.atime_ns, mtime_ns=self.mtime_ns, content_type=self.content_type,
            custom=self.custom, etag=self.etag, location=location, is_cached=True, remote_etag=self.remote_etag,
            remote_version=self.remote_version, remote_mtime_ns=self.remote_mtime_ns,
        )


_NAMES = tuple(f.name for f in fields(ObjMeta))
_FIELDS = frozenset(_NAMES)


def write(target: int | str, meta: ObjMeta) -> None:
    """Store ``meta`` on a file (fd or path); too much metadata is the client's error, not ours."""
    try:
        os.setxattr(target, XATTR, meta.encode())
    except OSError as e:
        if e.errno in (errno.E2BIG, errno.ENOSPC, errno.ERANGE):
            raise InvalidArgument("object metadata is too large (name plus user metadata)") from None
        raise


def read(target: int | str) -> ObjMeta:
    return ObjMeta.decode(os.getxattr(target, XATTR))


def of_open_file(fd: int) -> ObjMeta:
    """The metadata of an object file just opened for reading, its size the file's; a file
    whose metadata cannot be read is closed before the error leaves."""
    try:
        meta = read(fd)
        meta.size = os.fstat(fd).st_size
    except BaseException:
        os.close(fd)
        raise
    return meta
