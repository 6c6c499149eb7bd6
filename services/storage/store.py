"""Objects on this node's mountpaths: the write path (temp, hash, fsync, xattr, rename), reads,
deletes and listings. No gRPC here: server.py adapts it to the Storage service."""

from __future__ import annotations

import hashlib
import heapq
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from aismesh.cmn import errors, hrw
from aismesh.cmn.checksum import DEFAULT_TYPE, new_hasher
from aismesh.cmn.names import Bck, check_object_name
from aismesh.protos import types_pb2
from services.storage import durable, integrity, layout, objmeta, versions
from services.storage.index import Index, attrs_of_row
from services.storage.objmeta import ObjMeta
from services.storage.versioning import Deleted, Versioning
from services.storage.versions import ENABLED, NULL

log = logging.getLogger("storage.store")
_LOCK_STRIPES = 256
ATIME_REFRESH_NS = 3600 * 1_000_000_000


@dataclass
class PutSpec:
    bck: Bck
    bid: int
    name: str
    size: int = -1
    content_type: str = ""
    custom: dict[str, str] | None = None
    cks_type: str = ""
    expected: types_pb2.Checksum | None = None
    versioning: bool = True
    compute_md5: bool = False
    remote: types_pb2.ObjAttrs | None = None  # write-through / cold GET: what the backend reported
    # Remote buckets: called with the finished work file (path, size) before the commit; it
    # writes the bytes through to the backend and answers what the backend reported. A failure
    # stores nothing here either.
    write_through: Callable[[str, int], types_pb2.ObjAttrs] | None = None
    # S3 conditional writes, checked under the object's lock at commit (see _check_condition).
    if_absent: bool = False
    if_match_etag: str = ""


class Digests:
    """Every hash one PUT needs, fed in one pass: the bucket's checksum, md5 (the S3 ETag) when
    asked for or when the client sent a Content-MD5, and the client's own type if it differs."""

    def __init__(self, spec: PutSpec) -> None:
        self.cks_type = spec.cks_type or DEFAULT_TYPE
        self.expected = spec.expected if spec.expected is not None and spec.expected.value else None
        want = self.expected.type if self.expected is not None else ""
        self.hasher = new_hasher(self.cks_type)
        self.md5 = hashlib.md5() if spec.compute_md5 or want == "md5" else None
        # A checksum of yet another type (e.g. sha256 on an xxhash bucket) costs one more pass
        # over the same bytes, never a second read.
        self.extra = new_hasher(want) if want not in ("", "md5", self.cks_type) else None

    def update(self, data: bytes | memoryview) -> None:
        self.hasher.update(data)
        if self.md5 is not None:
            self.md5.update(data)
        if self.extra is not None:
            self.extra.update(data)

    def finish(self) -> tuple[str, str]:
        """(bucket checksum, md5 hex or ""); raises InvalidArgument when ``expected`` differs."""
        value = self.hasher.hexdigest()
        md5_hex = self.md5.hexdigest() if self.md5 is not None else ""
        exp = self.expected
        if exp is not None:
            if exp.type == "md5":
                got = md5_hex
            elif exp.type in ("", self.cks_type):
                got = value
            else:
                got = self.extra.hexdigest() if self.extra is not None else ""
            if not got:
                raise errors.InvalidArgument(f'cannot verify a "{exp.type}" checksum on this PUT')
            if got.lower() != exp.value.lower():
                raise errors.InvalidArgument(
                    f"{exp.type or self.cks_type} checksum mismatch (BadDigest): expected {exp.value}, "
                    f"computed {got}: nothing stored", reason="bad-digest")
        return value, md5_hex


class Store:
    def __init__(self, node_id: str, mountpaths: list[str]) -> None:
        if not mountpaths:
            raise ValueError("a storage node needs at least one mountpath")
        self.node_id = node_id
        self.mountpaths = [os.path.abspath(m) for m in mountpaths]
        if len(set(self.mountpaths)) != len(self.mountpaths):
            raise ValueError(f"a mountpath is given twice: {mountpaths}")
        # HRW candidates with their digests computed once, not on every request.
        self._mp_candidates = [(m, hrw.digest(m)) for m in self.mountpaths]
        self.indexes = {m: Index(m) for m in self.mountpaths}
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        # Latest BMD seen: (version, {(uname, bid)}); None until the first one arrives.
        self._bmd: tuple[int, set[tuple[str, int]]] | None = None
        # Buckets whose props ask for a checksum check on every read (checksum.validate_warm_get).
        self._validated: frozenset[tuple[str, int]] = frozenset()
        # Buckets being destroyed: (uname, bid) -> monotonic time the seal lapses.
        self._sealed: dict[tuple[str, int], float] = {}
        # S3 versioning status of buckets that have one (BMD props extra.s3.versioning).
        self._s3_modes: dict[tuple[str, int], str] = {}
        self.vids = versions.VidClock(node_id)
        self.versioning = Versioning(self)

    # --- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        for mp in self.mountpaths:
            for sub in ("work", "mpu", "trash"):
                os.makedirs(layout.sys_path(mp, sub), exist_ok=True)
            work = layout.sys_path(mp, "work")
            for leftover in os.listdir(work):  # PUTs that were in flight when we stopped
                os.unlink(os.path.join(work, leftover))
            shutil.rmtree(layout.sys_path(mp, "trash"), ignore_errors=True)
            os.makedirs(layout.sys_path(mp, "trash"), exist_ok=True)
            self.indexes[mp].open()

    def close(self) -> None:
        for idx in self.indexes.values():
            idx.close()

    # --- helpers ---------------------------------------------------------------------------

    def mountpath_for(self, bck: Bck, name: str) -> str:
        return hrw.pick(bck.object_uname(name), self._mp_candidates)

    @property
    def bmd_version(self) -> int:
        """The version of the newest BMD this node has applied (0: none yet)."""
        return self._bmd[0] if self._bmd is not None else 0

    def lock_for(self, bck: Bck, name: str) -> threading.Lock:
        return self._locks[hrw.digest(bck.object_uname(name)) % _LOCK_STRIPES]

    def location(self, mp: str) -> str:
        return f"t[{self.node_id}]:{mp}"

    def not_found(self, bck: Bck, name: str, bid: int = -1) -> errors.ObjectNotFound:
        """Missing; on a versioned bucket whose key's latest version is a delete marker, the
        reason says so (``delete-marker:<version id>``) for S3's x-amz-delete-marker."""
        message = f"t[{self.node_id}]: {bck.display()}/{name} does not exist"
        if bid >= 0 and self.s3_mode(bck, bid):
            older = self.indexes[self.mountpath_for(bck, name)].versions_of(layout.bucket_key(bck, bid), name)
            if older and older[0][2]:
                return errors.ObjectNotFound(message, bck=bck.to_proto(), obj=name,
                                             reason=f"delete-marker:{older[0][1]}")
        return errors.ObjectNotFound(message, bck=bck.to_proto(), obj=name)

    def s3_mode(self, bck: Bck, bid: int) -> str:
        """The bucket's S3 versioning status as the BMD says: "", Enabled or Suspended."""
        if not self._s3_modes or bck.provider != "ais" or bck.ns_uuid:
            return ""  # remote buckets keep no versions here
        return self._s3_modes.get((bck.uname, bid), "")

    def check_bucket(self, bck: Bck, bid: int) -> None:
        """Refuse an incarnation of a bucket that a BMD we already hold says is gone."""
        if self._bmd is None:
            return
        version, known = self._bmd
        if bid <= version and (bck.uname, bid) not in known:
            raise errors.BucketNotFound(f'bucket "{bck.display()}" does not exist', bck=bck.to_proto())

    def seal_bucket(self, bck: Bck, bid: int, seal: bool, ttl_s: float) -> bool:
        """Seal (or unseal) one bucket incarnation against new commits; True when this node holds
        any of its objects. Taking every lock stripe waits out the commits already under way."""
        key = (bck.uname, bid)
        for lock in self._locks:
            lock.acquire()
        try:
            if seal:
                self._sealed[key] = time.monotonic() + ttl_s
            else:
                self._sealed.pop(key, None)
        finally:
            for lock in reversed(self._locks):
                lock.release()
        if not seal:
            return False
        entries, _ = self.list_page(bck, bid, "", "", 1, "", False)
        bkey = layout.bucket_key(bck, bid)
        return bool(entries) or any(self.indexes[mp].has_versions(bkey) for mp in self.mountpaths)

    def _check_unsealed(self, bck: Bck, bid: int) -> None:
        """Called under the object's lock stripe, right before a commit."""
        until = self._sealed.get((bck.uname, bid))
        if until is None:
            return
        if time.monotonic() < until:
            raise errors.Conflict(f"bucket {bck.display()} is being destroyed: the object was not stored",
                                  reason="bucket-sealed", bck=bck.to_proto())
        self._sealed.pop((bck.uname, bid), None)

    @staticmethod
    def _check_condition(spec: PutSpec, final: str) -> None:
        """S3 If-None-Match: * / If-Match, under the object's lock stripe right before the rename,
        so two conditional writers of one name cannot both commit."""
        if not spec.if_absent and not spec.if_match_etag:
            return
        try:
            meta = objmeta.read(final)
            # The ETag S3 shows (gateway s3/xml.etag_of): md5, else the remote ETag, else the checksum.
            current: str | None = meta.etag or meta.remote_etag or meta.cks_value or "0"
        except FileNotFoundError:
            current = None
        if spec.if_absent and current is not None:
            raise errors.PreconditionFailed(f"{spec.name} exists (If-None-Match: *): nothing stored",
                                            reason="if-none-match")
        if spec.if_match_etag and current != spec.if_match_etag.strip('"'):
            raise errors.PreconditionFailed(f"{spec.name} does not have ETag {spec.if_match_etag} (If-Match): "
                                            "nothing stored", reason="if-match")

    def work_file(self, mp: str) -> str:
        return layout.sys_path(mp, "work", uuid.uuid4().hex)

    # --- write path ------------------------------------------------------------------------

    def put(self, spec: PutSpec, chunks: Iterable[bytes] | Iterable[memoryview]) -> types_pb2.ObjAttrs:
        """Stream ``chunks`` into place: whole and verified, or not at all."""
        check_object_name(spec.name)
        self.check_bucket(spec.bck, spec.bid)
        mp = self.mountpath_for(spec.bck, spec.name)
        tmp = self.work_file(mp)
        digests = Digests(spec)  # an unknown checksum type fails here, before any file exists
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            received = 0
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                digests.update(chunk)
                received += len(chunk)
            if spec.size >= 0 and received != spec.size:
                raise errors.InvalidArgument(
                    f"received {received} bytes, but the request announced {spec.size}: nothing stored",
                    reason="incomplete-body")
            cks_value, md5_hex = digests.finish()
            os.fsync(fd)
            if spec.write_through is not None:
                # A remote bucket's backend is written before the commit: refuse early (not atomic
                # there; the check at commit still keeps this cluster's copy consistent).
                self._check_condition(spec, layout.object_path(mp, spec.bck, spec.bid, spec.name))
                spec.remote = spec.write_through(tmp, received)
            return self.commit(spec, mp, tmp, fd, received, cks_value, md5_hex)
        except BaseException:
            os.close(fd)
            fd = -1
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        finally:
            if fd >= 0:
                os.close(fd)

    def create_work(self, spec: PutSpec) -> tuple[int, str, str]:
        """A new, empty work file the node itself fills (multipart completion): (write fd,
        mountpath, path). Never handed out: a writer that kept it could change the object."""
        check_object_name(spec.name)
        self.check_bucket(spec.bck, spec.bid)
        mp = self.mountpath_for(spec.bck, spec.name)
        tmp = self.work_file(mp)
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), mp, tmp

    def commit_work(self, spec: PutSpec, mp: str, tmp: str, size: int, etag: str = "") -> types_pb2.ObjAttrs:
        """Turn a work file the node filled (create_work) into the object: verify, checksum, fsync,
        rename. Reading it back costs a page-cache copy."""
        try:
            fd = os.open(tmp, os.O_RDWR)
        except FileNotFoundError:
            raise errors.InvalidArgument("the work file of this write is gone") from None
        try:
            actual = os.fstat(fd).st_size
            if actual != size or (spec.size >= 0 and actual != spec.size):
                announced = spec.size if spec.size >= 0 else size
                raise errors.InvalidArgument(
                    f"received {actual} bytes, but the request announced {announced}: nothing stored",
                    reason="incomplete-body")
            digests = Digests(spec)
            buf = bytearray(1 << 20)
            view = memoryview(buf)
            pos = 0
            while pos < actual:
                n = os.preadv(fd, [view], pos)
                if n <= 0:
                    break
                digests.update(view[:n])
                pos += n
            cks_value, md5_hex = digests.finish()
            os.fsync(fd)
            if spec.write_through is not None:
                self._check_condition(spec, layout.object_path(mp, spec.bck, spec.bid, spec.name))
                spec.remote = spec.write_through(tmp, actual)
            return self.commit(spec, mp, tmp, fd, actual, cks_value, md5_hex, etag=etag)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        finally:
            os.close(fd)

    def commit(self, spec: PutSpec, mp: str, tmp: str, fd: int, size: int, cks_value: str,
                md5_hex: str, etag: str = "") -> types_pb2.ObjAttrs:
        final = layout.object_path(mp, spec.bck, spec.bid, spec.name)
        now = time.time_ns()
        mode = self.s3_mode(spec.bck, spec.bid) if spec.remote is None and spec.write_through is None else ""
        with self.lock_for(spec.bck, spec.name):
            self._check_unsealed(spec.bck, spec.bid)
            self._check_condition(spec, final)
            version = "1"
            archived = ""
            if mode:
                # S3 versioning: the current object is kept among the older versions (a hard
                # link: readers keep seeing it until the rename below), unless it is the null
                # version a suspended bucket overwrites.
                archived = self.versioning.make_room(mp, spec.bck, spec.bid, spec.name, final, mode)[1]
            if mode == ENABLED:
                version = self.vids.next()
            elif spec.versioning:
                try:
                    version = str(int(objmeta.read(final).version) + 1)
                except (OSError, ValueError):
                    version = "1"
            meta = ObjMeta(name=spec.name, size=size, cks_type=spec.cks_type or "xxhash", cks_value=cks_value,
                           version=version, atime_ns=now, mtime_ns=now, content_type=spec.content_type,
                           custom=dict(spec.custom or {}), etag=etag or md5_hex)
            if spec.remote is not None:
                meta.remote_etag = spec.remote.etag
                meta.remote_version = spec.remote.version
                meta.remote_mtime_ns = spec.remote.mtime_ns
                meta.version = spec.remote.version or meta.version
                meta.etag = meta.etag or spec.remote.etag  # no local md5: the backend's ETag stands
            try:
                dir_fd = self._place(spec, mp, fd, tmp, final, meta)
            except BaseException:
                if archived:  # the current object stays current: it is not an older version too
                    self.versioning.unlink_version(mp, spec.bck, spec.bid, spec.name, archived)
                raise
        try:
            os.fsync(dir_fd)  # the new name is durable before the PUT is acknowledged; no stripe waits on it
        finally:
            os.close(dir_fd)
        return meta.to_attrs(self.location(mp))

    def _place(self, spec: PutSpec, mp: str, fd: int, tmp: str, final: str, meta: ObjMeta) -> int:
        """Metadata onto the file, the file under its name, the name into the index (under the
        object's lock). Returns the open folder, to fsync once the lock is released."""
        objmeta.write(fd, meta)
        folder = os.path.dirname(final)
        durable.makedirs(folder)
        dir_fd = durable.open_dir(folder)
        try:
            os.replace(tmp, final)
            self.indexes[mp].upsert(layout.bucket_key(spec.bck, spec.bid), meta)
        except BaseException:
            os.close(dir_fd)
            raise
        return dir_fd

    # --- read path -------------------------------------------------------------------------

    def open_object(self, bck: Bck, bid: int, name: str) -> tuple[int, ObjMeta, str]:
        """(fd, meta, mountpath) of a whole object; the caller closes fd. A concurrent replace
        does not disturb an open fd: the reader sees the old or the new object, whole."""
        check_object_name(name)
        self.check_bucket(bck, bid)
        mp = self.mountpath_for(bck, name)
        try:
            fd = os.open(layout.object_path(mp, bck, bid, name), os.O_RDONLY)
        except FileNotFoundError:
            raise self.not_found(bck, name, bid) from None
        return fd, objmeta.of_open_file(fd), mp

    def validates_reads(self, bck: Bck, bid: int) -> bool:
        """Whether the bucket's props (in the BMD this node holds) ask to verify every read."""
        return (bck.uname, bid) in self._validated

    @property
    def validates_any_reads(self) -> bool:
        """Whether any bucket asks to verify every read (usually none)."""
        return bool(self._validated)

    def verify(self, fd: int, meta: ObjMeta, bck: Bck, name: str) -> None:
        """Check the bytes behind ``fd`` against their stored checksum; raise before serving any."""
        integrity.verify(fd, meta, f"t[{self.node_id}]: {bck.display()}/{name}")

    def touch(self, fd: int, meta: ObjMeta) -> None:
        """Refresh atime lazily (at most hourly) so GET stays read-only on the hot path."""
        now = time.time_ns()
        if now - meta.atime_ns > ATIME_REFRESH_NS:
            meta.atime_ns = now
            try:
                objmeta.write(fd, meta)
            except OSError:
                log.debug("atime refresh failed", exc_info=True)

    def head(self, bck: Bck, bid: int, name: str) -> types_pb2.ObjAttrs:
        fd, meta, mp = self.open_object(bck, bid, name)
        os.close(fd)
        return meta.to_attrs(self.location(mp))

    def delete(self, bck: Bck, bid: int, name: str) -> Deleted:
        """Remove the object; with S3 versioning, add a delete marker instead (S3's DELETE
        without a version id), keeping the object as an older version when enabled."""
        check_object_name(name)
        mp = self.mountpath_for(bck, name)
        final = layout.object_path(mp, bck, bid, name)
        mode = self.s3_mode(bck, bid)
        with self.lock_for(bck, name):
            if not mode:
                try:
                    os.unlink(final)
                except FileNotFoundError:
                    raise self.not_found(bck, name) from None
                self.indexes[mp].delete(layout.bucket_key(bck, bid), name)
                return Deleted()
            self._check_unsealed(bck, bid)
            null_replaced, archived = self.versioning.make_room(mp, bck, bid, name, final, mode)
            if null_replaced or archived:
                os.unlink(final)  # kept as an older version, or the null version the marker replaces
                self.indexes[mp].delete(layout.bucket_key(bck, bid), name)
                durable.fsync_dir(os.path.dirname(final))
            seq = self.vids.next()
            self.versioning.add_marker(mp, bck, bid, name, seq, seq if mode == ENABLED else "")
            return Deleted(version_id=seq if mode == ENABLED else NULL, is_delete_marker=True)

    def drop_bucket(self, bck: Bck, bid: int) -> None:
        """Remove every local object of one bucket incarnation (evict, or destroyed in the BMD)."""
        bkey = layout.bucket_key(bck, bid)
        for mp in self.mountpaths:
            path = layout.bucket_dir(mp, bck, bid)
            if os.path.isdir(path):
                trash = layout.sys_path(mp, "trash", uuid.uuid4().hex)
                os.replace(path, trash)
                threading.Thread(target=shutil.rmtree, args=(trash, True), daemon=True).start()
            self.indexes[mp].drop_bucket(bkey)

    # --- listing ---------------------------------------------------------------------------

    def list_page(self, bck: Bck, bid: int, prefix: str, start_after: str, limit: int,
                  delimiter: str, with_attrs: bool) -> tuple[list[types_pb2.ObjAttrs], bool]:
        """One sorted page merged across mountpaths; True when more entries follow."""
        bkey = layout.bucket_key(bck, bid)
        per_mp = [[(row, is_dir, mp) for row, is_dir in self.indexes[mp].page(bkey, prefix, start_after,
                                                                               limit + 1, delimiter)]
                  for mp in self.mountpaths]
        out: list[types_pb2.ObjAttrs] = []
        last = None
        for row, is_dir, mp in heapq.merge(*per_mp, key=lambda x: x[0][0]):
            if row[0] == last:
                continue  # the same common prefix on several mountpaths
            last = row[0]
            out.append(attrs_of_row(row, is_dir, with_attrs, self.location(mp)))
        return out[:limit], len(out) > limit

    def bucket_dirs(self) -> Iterator[tuple[Bck, int]]:
        """Every (bucket, bid) that has a folder on some mountpath."""
        seen: set[tuple[Bck, int]] = set()
        for mp in self.mountpaths:
            for prov in _subdirs(mp, lambda n: n.startswith("@")):
                for ns in _subdirs(prov):
                    for b in _subdirs(ns):
                        for bid in _subdirs(b, str.isdigit):
                            found = layout.parse_bucket_dir(mp, bid)
                            if found is not None and found not in seen:
                                seen.add(found)
                                yield found

    def apply_bmd(self, version: int, known: set[tuple[str, int]],
                  validated: frozenset[tuple[str, int]] = frozenset(),
                  s3_modes: dict[tuple[str, int], str] | None = None) -> None:
        """Adopt a newer BMD (with the buckets whose reads are validated and the S3 versioning
        status of the buckets that have one) and drop data of bucket incarnations it no longer has."""
        if self._bmd is not None and version <= self._bmd[0]:
            return
        self._validated = validated
        if s3_modes is not None:
            self._s3_modes = dict(s3_modes)
        self._bmd = (version, known)
        for bck, bid in list(self.bucket_dirs()):
            if bid <= version and (bck.uname, bid) not in known:
                log.info("dropping data of destroyed bucket %s (bid %d)", bck.display(), bid)
                self.drop_bucket(bck, bid)


def _subdirs(path: str, keep: object = None) -> list[str]:
    try:
        return [e.path for e in os.scandir(path) if e.is_dir() and (keep is None or keep(e.name))]  # type: ignore[operator]
    except FileNotFoundError:
        return []
