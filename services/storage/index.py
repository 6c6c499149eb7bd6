"""The listing index of one mountpath: a SQLite table of (bucket, name) -> listing attributes.

The xattr next to each file is the truth; this index exists so that a listing is an ordered
range scan instead of a walk. It is written after every rename/unlink (under the same per-name
lock) and, because SQLite in WAL mode with synchronous=NORMAL may lose its last commits on a
crash, it is marked clean only on an orderly stop: a node that finds no clean marker at start
rebuilds the index from the xattrs (``rebuild``).

Connections come from a small pool shared by every thread: a node runs a thread per same-host
client, and a connection per thread would keep two descriptors open for each client ever seen.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator

from aismesh.protos import types_pb2
from services.storage import layout, objmeta, versions
from services.storage.objmeta import ObjMeta

log = logging.getLogger("storage.index")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    bkey TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, cks_type TEXT, cks_value TEXT,
    version TEXT, atime_ns INTEGER, mtime_ns INTEGER, etag TEXT, custom TEXT, content_type TEXT,
    PRIMARY KEY (bkey, name)
) WITHOUT ROWID
"""
# S3 versioning: the versions of a key that are not its current object (older versions and delete
# markers), one row each, keyed by ``seq`` (time-sortable; see services/storage/versions.py).
_VERSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    bkey TEXT NOT NULL, name TEXT NOT NULL, seq TEXT NOT NULL, vid TEXT NOT NULL, is_marker INTEGER NOT NULL,
    size INTEGER NOT NULL, cks_type TEXT, cks_value TEXT, version TEXT, atime_ns INTEGER, mtime_ns INTEGER,
    etag TEXT, custom TEXT, content_type TEXT,
    PRIMARY KEY (bkey, name, seq)
) WITHOUT ROWID
"""
_COLUMNS = "name, size, cks_type, cks_value, version, atime_ns, mtime_ns, etag, custom, content_type"
Row = tuple[str, int, str, str, str, int, int, str, str, str]
# A version row: (seq, vid, is_marker) and then the object columns.
VersionRow = tuple[str, str, int, str, int, str, str, str, int, int, str, str, str]
# Connections per mountpath: SQLite in WAL mode has one writer at a time anyway, and readers
# hold one only for a page of a listing.
POOL_SIZE = 8


def upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (None: no bound)."""
    p = prefix.rstrip("\U0010ffff")
    if not p:
        return None
    nxt = ord(p[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:
        nxt = 0xE000  # surrogates are not UTF-8: the next encodable code point bounds the same set
    return p[:-1] + chr(nxt)


class Index:
    def __init__(self, mountpath: str) -> None:
        self.mountpath = mountpath
        self.path = layout.sys_path(mountpath, "index.db")
        self.clean_marker = layout.sys_path(mountpath, "index.clean")
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(POOL_SIZE)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        """Borrow a pooled connection (made on demand, at most POOL_SIZE) for one statement or
        transaction; it goes back idle, never in a transaction, for the next thread."""
        with self._slots:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.rollback()
                with self._lock:
                    self._idle.append(conn)

    def open(self) -> None:
        """Open the index; rebuild it from the files when the last stop was not orderly."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        was_clean = os.path.exists(self.clean_marker)
        if was_clean:
            os.unlink(self.clean_marker)
        else:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.unlink(self.path + suffix)
        with self._conn() as conn:
            conn.execute(_SCHEMA)
            conn.execute(_VERSIONS_SCHEMA)
        if not was_clean:
            count = self.rebuild()
            log.info("rebuilt listing index of %s: %d objects", self.mountpath, count)

    def close(self) -> None:
        """Orderly stop: checkpoint, close every connection, mark the index clean."""
        with self._lock:
            conns, self._all, self._idle = self._all, [], []
        for c in conns:
            try:
                c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                c.close()
            except sqlite3.Error:
                log.warning("closing index connection failed", exc_info=True)
        with open(self.clean_marker, "w") as f:
            f.write("clean\n")

    def rebuild(self) -> int:
        """Insert one row per object file found under the mountpath, from its xattr."""
        with self._conn() as conn:
            conn.execute("BEGIN")
            rows = self._insert_all(conn)
            conn.execute("COMMIT")
        return rows

    def _insert_all(self, conn: sqlite3.Connection) -> int:
        rows = 0
        for top in os.scandir(self.mountpath):
            if not top.is_dir() or not top.name.startswith("@"):
                continue
            for dirpath, _, files in os.walk(top.path):
                parts = os.path.relpath(dirpath, self.mountpath).split(os.sep)
                if len(parts) == 8 and parts[4] == versions.VER_DIR and files:
                    rows += self._insert_versions(conn, parts, dirpath, files)
                    continue
                if len(parts) != 7 or parts[4] != layout.OBJ_DIR or not files:
                    continue
                found = layout.parse_bucket_dir(self.mountpath, os.path.join(self.mountpath, *parts[:4]))
                if found is None:
                    continue
                bkey = layout.bucket_key(*found)
                for fname in files:
                    try:
                        meta = objmeta.read(os.path.join(dirpath, fname))
                    except (OSError, ValueError, TypeError):
                        log.warning("no readable metadata on %s", os.path.join(dirpath, fname))
                        continue
                    self._upsert(conn, bkey, meta)
                    rows += 1
        return rows

    def _insert_versions(self, conn: sqlite3.Connection, parts: list[str], dirpath: str, files: list[str]) -> int:
        """The version files of one key (``%ov/../../<hash>/<seq>``) back into the versions table."""
        found = layout.parse_bucket_dir(self.mountpath, os.path.join(self.mountpath, *parts[:4]))
        if found is None:
            return 0
        bkey = layout.bucket_key(*found)
        rows = 0
        for seq in files:
            try:
                meta = objmeta.read(os.path.join(dirpath, seq))
            except (OSError, ValueError, TypeError):
                log.warning("no readable metadata on %s", os.path.join(dirpath, seq))
                continue
            self._add_version(conn, bkey, seq, meta)
            rows += 1
        return rows

    @staticmethod
    def _add_version(conn: sqlite3.Connection, bkey: str, seq: str, m: ObjMeta) -> None:
        conn.execute(
            f"INSERT OR REPLACE INTO versions (bkey, seq, vid, is_marker, {_COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (bkey, seq, versions.vid_of(m), int(m.delete_marker), m.name, m.size, m.cks_type, m.cks_value,
             m.version, m.atime_ns, m.mtime_ns, m.etag,
             json.dumps(m.custom, ensure_ascii=False) if m.custom else "", m.content_type),
        )

    def add_version(self, bkey: str, seq: str, meta: ObjMeta) -> None:
        with self._conn() as conn:
            self._add_version(conn, bkey, seq, meta)

    def delete_version(self, bkey: str, name: str, seq: str) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM versions WHERE bkey=? AND name=? AND seq=?", (bkey, name, seq))

    def versions_of(self, bkey: str, name: str) -> list[VersionRow]:
        """The non-current versions of one key, newest first."""
        with self._conn() as conn:
            return list(conn.execute(
                f"SELECT seq, vid, is_marker, {_COLUMNS} FROM versions WHERE bkey=? AND name=? ORDER BY seq DESC",
                (bkey, name)))

    def current(self, bkey: str, name: str) -> Row | None:
        with self._conn() as conn:
            row: Row | None = conn.execute(f"SELECT {_COLUMNS} FROM objects WHERE bkey=? AND name=?",
                                           (bkey, name)).fetchone()
        return row

    def has_versions(self, bkey: str) -> bool:
        with self._conn() as conn:
            return conn.execute("SELECT 1 FROM versions WHERE bkey=? LIMIT 1", (bkey,)).fetchone() is not None

    def scan_version_names(self, bkey: str, lower: str, inclusive: bool, upper: str | None,
                           limit: int) -> list[Row]:
        """As ``scan``, over the names that have a current object or any other version (names only)."""
        op = ">=" if inclusive else ">"
        cond = f"bkey=? AND name {op} ?" + (" AND name < ?" if upper is not None else "")
        args: list[object] = [bkey, lower]
        if upper is not None:
            args.append(upper)
        sql = (f"SELECT name FROM objects WHERE {cond} UNION SELECT name FROM versions WHERE {cond} "
               "ORDER BY name LIMIT ?")
        with self._conn() as conn:
            return [(r[0], 0, "", "", "", 0, 0, "", "", "") for r in conn.execute(sql, args + args + [limit])]

    @staticmethod
    def _upsert(conn: sqlite3.Connection, bkey: str, m: ObjMeta) -> None:
        conn.execute(
            f"INSERT OR REPLACE INTO objects (bkey, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (bkey, m.name, m.size, m.cks_type, m.cks_value, m.version, m.atime_ns, m.mtime_ns, m.etag,
             json.dumps(m.custom, ensure_ascii=False) if m.custom else "", m.content_type),
        )

    def upsert(self, bkey: str, meta: ObjMeta) -> None:
        with self._conn() as conn:
            self._upsert(conn, bkey, meta)

    def delete(self, bkey: str, name: str) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM objects WHERE bkey=? AND name=?", (bkey, name))

    def drop_bucket(self, bkey: str) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM objects WHERE bkey=?", (bkey,))
            conn.execute("DELETE FROM versions WHERE bkey=?", (bkey,))

    def scan(self, bkey: str, lower: str, inclusive: bool, upper: str | None, limit: int) -> list[Row]:
        """Up to ``limit`` rows with lower <(=) name < upper, in name order."""
        op = ">=" if inclusive else ">"
        sql = f"SELECT {_COLUMNS} FROM objects WHERE bkey=? AND name {op} ?"
        args: list[object] = [bkey, lower]
        if upper is not None:
            sql += " AND name < ?"
            args.append(upper)
        sql += " ORDER BY name LIMIT ?"
        args.append(limit)
        with self._conn() as conn:
            return list(conn.execute(sql, args))

    def page(self, bkey: str, prefix: str, start_after: str, limit: int, delimiter: str,
             all_versions: bool = False) -> Iterator[tuple[Row, bool]]:
        """Sorted (row, is_dir) pairs: names with ``prefix`` after ``start_after``, common prefixes
        rolled up when ``delimiter`` is set (a rolled-up prefix counts once, and everything under
        it is skipped with one seek). ``all_versions``: also names that have only older versions
        or delete markers (rows then carry the name only)."""
        scan = self.scan_version_names if all_versions else self.scan
        upper = upper_bound(prefix)
        if start_after >= prefix:
            lower, inclusive = start_after, False
        else:
            lower, inclusive = prefix, True
        emitted = 0
        batch = max(16, min(limit, 1000))
        while emitted < limit:
            rows = scan(bkey, lower, inclusive, upper, batch)
            if not rows:
                return
            for row in rows:
                name = row[0]
                if delimiter:
                    cut = name.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = name[:cut + len(delimiter)]
                        if common > start_after:
                            yield (common, 0, "", "", "", 0, 0, "", "", ""), True
                            emitted += 1
                        skip = upper_bound(common)
                        if skip is None:
                            return
                        lower, inclusive = skip, True
                        break
                yield row, False
                emitted += 1
                lower, inclusive = name, False
                if emitted >= limit:
                    return
            else:
                if len(rows) < batch:
                    return


def attrs_of_row(row: Row, is_dir: bool, with_attrs: bool, location: str) -> types_pb2.ObjAttrs:
    """A listing row as the ObjAttrs of a listing entry (``is_dir``: a common prefix)."""
    if is_dir:
        return types_pb2.ObjAttrs(name=row[0], is_dir=True)
    name, size, cks_type, cks_value, version, atime, mtime, etag, custom, ctype = row
    if not with_attrs:
        return types_pb2.ObjAttrs(name=name, size=size, is_cached=True)
    return types_pb2.ObjAttrs(
        name=name, size=size, checksum=types_pb2.Checksum(type=cks_type, value=cks_value), version=version,
        atime_ns=atime, mtime_ns=mtime, etag=etag, custom=json.loads(custom) if custom else {},
        content_type=ctype, location=location, is_cached=True,
    )
