"""The S3 versioning operations of a node's Store: what a versioned write, delete, read by
version id and versions listing do with a key's older versions (layout and ids: versions.py).

Every mutation runs under the key's lock stripe, taken by the Store (writes, deletes) or here
(delete_version); the Store keeps the current object where it always lives.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aismesh.cmn import errors
from aismesh.cmn.names import Bck, check_object_name
from aismesh.protos import types_pb2
from services.storage import durable, layout, objmeta, versions
from services.storage.index import VersionRow, attrs_of_row
from services.storage.objmeta import ObjMeta
from services.storage.versions import NULL, SUSPENDED

if TYPE_CHECKING:
    from services.storage.store import Store


@dataclass(frozen=True)
class Deleted:
    """What a DELETE did on a bucket with S3 versioning: the version it removed or the marker it added."""

    version_id: str = ""
    is_delete_marker: bool = False
    found: bool = True


@dataclass(frozen=True)
class VersionEntry:
    """One line of a versions listing: a version, a delete marker or a common prefix (is_dir)."""

    attrs: types_pb2.ObjAttrs
    version_id: str = ""
    seq: str = ""
    is_latest: bool = False
    is_delete_marker: bool = False


class Versioning:
    """The versions side of one Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def make_room(self, mp: str, bck: Bck, bid: int, name: str, final: str, mode: str) -> tuple[bool, str]:
        """Under the key's lock, before a new latest version: a suspended bucket drops its null
        version among the older ones; the current object is linked among the older versions
        (its seq returned), unless it is the null version of a suspended bucket (True: the
        caller replaces or removes it). The current file itself stays for the caller to replace
        or unlink, so a concurrent reader never finds the key missing."""
        bkey = layout.bucket_key(bck, bid)
        index = self.store.indexes[mp]
        if mode == SUSPENDED:
            for row in index.versions_of(bkey, name):
                if row[1] == NULL:
                    self.unlink_version(mp, bck, bid, name, row[0])
        try:
            current = objmeta.read(final)
        except FileNotFoundError:
            return False, ""
        if mode == SUSPENDED and versions.vid_of(current) == NULL:
            return True, ""
        seq = versions.seq_of(current)
        dst = versions.version_path(mp, bck, bid, name, seq)
        folder = os.path.dirname(dst)
        durable.makedirs(folder)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dst)  # a leftover of a crash between this link and the caller's rename
        os.link(final, dst)
        durable.fsync_dir(folder)
        index.add_version(bkey, seq, current)
        return False, seq

    def unlink_version(self, mp: str, bck: Bck, bid: int, name: str, seq: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(versions.version_path(mp, bck, bid, name, seq))
        self.store.indexes[mp].delete_version(layout.bucket_key(bck, bid), name, seq)

    def add_marker(self, mp: str, bck: Bck, bid: int, name: str, seq: str, version: str) -> None:
        """A delete marker: an empty file with its metadata among the key's other versions."""
        now = time.time_ns()
        meta = ObjMeta(name=name, size=0, cks_type="", cks_value="", version=version, atime_ns=now,
                       mtime_ns=now, delete_marker=True)
        tmp = self.store.work_file(mp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            objmeta.write(fd, meta)
            os.fsync(fd)
        finally:
            os.close(fd)
        dst = versions.version_path(mp, bck, bid, name, seq)
        try:
            durable.makedirs(os.path.dirname(dst))
            os.replace(tmp, dst)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        durable.fsync_dir(os.path.dirname(dst))
        self.store.indexes[mp].add_version(layout.bucket_key(bck, bid), seq, meta)

    def promote_newest(self, mp: str, bck: Bck, bid: int, name: str, final: str) -> bool:
        """The newest older version becomes the current object when it is an object (a delete
        marker on top stays the latest): renamed over ``final``, so the key never goes missing
        in between. True when it did."""
        bkey = layout.bucket_key(bck, bid)
        older = self.store.indexes[mp].versions_of(bkey, name)
        if not older or older[0][2]:
            return False
        src = versions.version_path(mp, bck, bid, name, older[0][0])
        meta = objmeta.read(src)
        durable.makedirs(os.path.dirname(final))
        os.replace(src, final)
        durable.fsync_dir(os.path.dirname(final))
        self.store.indexes[mp].upsert(bkey, meta)
        self.store.indexes[mp].delete_version(bkey, name, older[0][0])
        return True

    def delete_version(self, bck: Bck, bid: int, name: str, vid: str) -> Deleted:
        """Remove one version for good; when it was the latest, the one before becomes the latest."""
        check_object_name(name)
        mp = self.store.mountpath_for(bck, name)
        final = layout.object_path(mp, bck, bid, name)
        bkey = layout.bucket_key(bck, bid)
        with self.store.lock_for(bck, name):
            try:
                current: ObjMeta | None = objmeta.read(final)
            except FileNotFoundError:
                current = None
            if current is not None and versions.vid_of(current) == vid:
                if not self.promote_newest(mp, bck, bid, name, final):  # the rename replaces it
                    os.unlink(final)
                    self.store.indexes[mp].delete(bkey, name)
                    durable.fsync_dir(os.path.dirname(final))
                return Deleted(version_id=vid)
            for row in self.store.indexes[mp].versions_of(bkey, name):
                if row[1] == vid:
                    self.unlink_version(mp, bck, bid, name, row[0])
                    if current is None:  # it may have been the latest (a delete marker on top)
                        self.promote_newest(mp, bck, bid, name, final)
                    return Deleted(version_id=vid, is_delete_marker=bool(row[2]))
        return Deleted(version_id=vid, found=False)

    def open_version(self, bck: Bck, bid: int, name: str, vid: str) -> tuple[int, ObjMeta, str]:
        """(fd, meta, mountpath) of one version of an object; NotFound reason ``no-such-version``,
        or ``version-is-delete-marker`` when the version is a delete marker."""
        check_object_name(name)
        self.store.check_bucket(bck, bid)
        mp = self.store.mountpath_for(bck, name)
        with contextlib.suppress(errors.ObjectNotFound):
            fd, meta, _ = self.store.open_object(bck, bid, name)
            if versions.vid_of(meta) == vid:
                return fd, meta, mp
            os.close(fd)
        for row in self.store.indexes[mp].versions_of(layout.bucket_key(bck, bid), name):
            if row[1] != vid:
                continue
            if row[2]:
                raise errors.NotFound(f"{bck.display()}/{name} version {vid} is a delete marker",
                                      reason="version-is-delete-marker", bck=bck.to_proto(), obj=name)
            try:
                fd = os.open(versions.version_path(mp, bck, bid, name, row[0]), os.O_RDONLY)
            except FileNotFoundError:
                break  # deleted since: as if never there
            return fd, objmeta.of_open_file(fd), mp
        raise errors.NotFound(f"{bck.display()}/{name} has no version {vid}", reason="no-such-version",
                              bck=bck.to_proto(), obj=name)

    def list_versions(self, bck: Bck, bid: int, prefix: str, key_marker: str, vid_marker: str, limit: int,
                      delimiter: str) -> tuple[list[VersionEntry], bool]:
        """Every version of the names after the markers, names ascending and each name's versions
        newest first; common prefixes rolled up. True when more entries follow."""
        bkey = layout.bucket_key(bck, bid)
        out: list[VersionEntry] = []
        if key_marker and vid_marker and key_marker.startswith(prefix):
            mine = self.versions_of(bck, bid, key_marker)
            for i, e in enumerate(mine):
                if e.version_id == vid_marker:
                    out.extend(mine[i + 1:])
                    break
        per_mp = [self.store.indexes[mp].page(bkey, prefix, key_marker, limit + 1, delimiter, all_versions=True)
                  for mp in self.store.mountpaths]
        last = None
        for row, is_dir in heapq.merge(*per_mp, key=lambda x: x[0][0]):
            if len(out) > limit:
                break
            if row[0] == last:
                continue
            last = row[0]
            if is_dir:
                out.append(VersionEntry(attrs=types_pb2.ObjAttrs(name=row[0], is_dir=True)))
            else:
                out.extend(self.versions_of(bck, bid, row[0]))
        return out[:limit], len(out) > limit

    def versions_of(self, bck: Bck, bid: int, name: str) -> list[VersionEntry]:
        mp = self.store.mountpath_for(bck, name)
        bkey = layout.bucket_key(bck, bid)
        loc = self.store.location(mp)
        out: list[VersionEntry] = []
        cur = self.store.indexes[mp].current(bkey, name)
        if cur is not None:
            version, mtime = cur[4], cur[6]
            out.append(VersionEntry(attrs=attrs_of_row(cur, False, True, loc), version_id=versions.vid_for(version),
                                    seq=versions.seq_for(version, mtime), is_latest=True))
        for i, vrow in enumerate(self.store.indexes[mp].versions_of(bkey, name)):
            out.append(_version_entry(vrow, is_latest=(cur is None and i == 0), location=loc))
        return out


def _version_entry(row: VersionRow, is_latest: bool, location: str) -> VersionEntry:
    seq, vid, is_marker = row[0], row[1], bool(row[2])
    return VersionEntry(attrs=attrs_of_row(row[3:], False, True, location),
                        version_id=vid, seq=seq, is_latest=is_latest, is_delete_marker=is_marker)
