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

from services.storage import layout, objmeta
from services.storage.objmeta import ObjMeta

log = logging.getLogger("storage.index")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    bkey TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, cks_type TEXT, cks_value TEXT,
    version TEXT, atime_ns INTEGER, mtime_ns INTEGER, etag TEXT, custom TEXT, content_type TEXT,
    PRIMARY KEY (bkey, name)
) WITHOUT ROWID
"""
_COLUMNS = "name, size, cks_type, cks_value, version, atime_ns, mtime_ns, etag, custom, content_type"
Row = tuple[str, int, str, str, str, int, int, str, str, str]
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

    def page(self, bkey: str, prefix: str, start_after: str, limit: int, delimiter: str) -> Iterator[tuple[Row, bool]]:
        """Sorted (row, is_dir) pairs: names with ``prefix`` after ``start_after``, common prefixes
        rolled up when ``delimiter`` is set (a rolled-up prefix counts once, and everything under
        it is skipped with one seek)."""
        upper = upper_bound(prefix)
        if start_after >= prefix:
            lower, inclusive = start_after, False
        else:
            lower, inclusive = prefix, True
        emitted = 0
        batch = max(16, min(limit, 1000))
        while emitted < limit:
            rows = self.scan(bkey, lower, inclusive, upper, batch)
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
