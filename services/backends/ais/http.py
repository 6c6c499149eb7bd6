"""AIStore's native HTTP API as the adapter speaks it to a remote cluster: one pooled client,
URL failover, and every failure mapped once to the mesh's error kinds.

The wire contract is AIS's (docs/native-api.md, the reference's §4-§7), so the remote may be
another aismesh or a real AIStore. A remote that does not answer is remembered for DOWN_S, so
the calls right after fail at once instead of each waiting for a connect timeout.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

import urllib3

from aismesh.cmn import errors
from services.backends.ais.attachments import Attachment

CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 10.0
DOWN_S = 2.0


def remote_message(resp: Any) -> str:
    """The remote's own error text: ErrHTTP JSON (body, or Hdr-Error on HEAD), else the body."""
    raw = resp.headers.get("Hdr-Error", "")
    if not raw:
        try:
            raw = resp.data.decode("utf-8", errors="replace")[:2000]
        except Exception:  # a body that cannot be read says nothing more than the status
            raw = ""
    try:
        doc = json.loads(raw)
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return str(doc["message"])
    except ValueError:
        pass
    return raw.strip() or f"HTTP {resp.status}"


def map_status(resp: Any, where: str, obj: str, a: Attachment) -> errors.AisError:
    """An HTTP error answer of the remote in the mesh taxonomy; the message names the local
    bucket (``ais://@remais/b``) first, then what the remote said."""
    said = remote_message(resp)
    tail = f" (remote-cluster[{a.alias}]: {said})"
    status = resp.status
    if status == 404:
        if obj and 'bucket "' not in said and "bucket " not in said.split(obj)[0][-20:]:
            return errors.ObjectNotFound(f"{where}/{obj} does not exist{tail}", obj=obj)
        return errors.BucketNotFound(f'remote bucket "{where}" does not exist{tail}')
    if status == 409:
        if not obj and "already exists" in said:
            return errors.AlreadyExists(f'bucket "{where}" already exists{tail}')
        return errors.Conflict(f"{where}{'/' + obj if obj else ''}: conflict{tail}")
    if status == 412:
        return errors.PreconditionFailed(f"{where}/{obj} changed at the remote{tail}", obj=obj)
    if status == 416:
        whole = resp.headers.get("Content-Range", "").rsplit("/", 1)[-1]
        return errors.RangeNotSatisfiable(f"{where}/{obj}: range not satisfiable{tail}",
                                          object_size=int(whole) if whole.isdigit() else 0)
    if status == 403:
        return errors.AccessDenied(f"{where}: access denied{tail}")
    if status == 401:
        return errors.Unauthenticated(f"{where}: {a.label} refused this cluster's credentials{tail}")
    if status == 400:
        return errors.InvalidArgument(f"{where}: {said}")
    if status == 501:
        return errors.NotImplemented(f"{where}: {said}")
    if status == 429:
        return errors.Throttled(f"{where}: {a.label} asked to slow down{tail}")
    return errors.RemoteUnavailable(f"{where}: {a.label} answered HTTP {status}{tail}")


class RemoteHttp:
    """One connection pool for every remote; requests go to an attachment's first URL that answers."""

    def __init__(self) -> None:
        self.pool = urllib3.PoolManager(num_pools=64, maxsize=32, retries=False,
                                        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S))
        self._lock = threading.Lock()
        self._good: dict[str, str] = {}        # alias -> the URL that answered last
        self._down: dict[str, tuple[float, str]] = {}  # alias -> (until, why)

    def request(self, a: Attachment, method: str, path: str, query: dict[str, str], *, where: str,
                obj: str = "", headers: dict[str, str] | None = None, body: Any = None,
                json_body: Any = None, stream: bool = False, ok: Iterable[int] = ()) -> Any:
        """One call to the remote; raises the mapped error unless the status is < 400 (or in ``ok``).
        ``stream`` leaves the body unread (the caller reads and releases it)."""
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        qs = urllib.parse.urlencode(query)
        with self._lock:
            down = self._down.get(a.alias)
            first = self._good.get(a.alias)
        if down is not None and down[0] > time.monotonic():
            raise errors.RemoteUnavailable(f"{where}: {a.label} is not reachable: {down[1]}")
        urls = sorted(a.urls, key=lambda u: u != first)
        why = ""
        for url in urls:
            full = f"{url}{path}" + (f"?{qs}" if qs else "")
            try:
                resp = self.pool.request(method, full, body=body, headers=hdrs, preload_content=not stream,
                                         redirect=True)
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as e:
                why = f"{url}: {_reason(e)}"
                continue  # nothing was sent: the next URL may take it
            except urllib3.exceptions.HTTPError as e:
                raise errors.RemoteUnavailable(f"{where}: {a.label} ({url}) failed: {_reason(e)}") from None
            with self._lock:
                self._good[a.alias] = url
                self._down.pop(a.alias, None)
            if resp.status >= 400 and resp.status not in ok:
                if stream:
                    resp.read(64 << 10)
                    resp.release_conn()
                raise map_status(resp, where, obj, a)
            return resp
        with self._lock:
            self._down[a.alias] = (time.monotonic() + DOWN_S, why)
        raise errors.RemoteUnavailable(f"{where}: {a.label} is not reachable: {why}")


def _reason(e: Exception) -> str:
    inner = getattr(e, "reason", None)
    return str(inner or e)
