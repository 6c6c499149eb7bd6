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
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3


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
        self._redirecting: dict[str, bool] = {}  # alias -> whether object requests are redirected

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
                resp = self._send(a, method, full, body, hdrs, stream, where)
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


    def _send(self, a: Attachment, method: str, url: str, body: Any, headers: dict[str, str], stream: bool,
              where: str) -> Any:
        """One request, following an AIS proxy's redirects to a target by hand: urllib3 does not
        rewind a file body on a redirect, and a streamed body cannot be sent twice at all."""
        with self._lock:
            redirecting = self._redirecting.get(a.alias, False)
        for _ in range(MAX_REDIRECTS + 1):
            if redirecting and hasattr(body, "seek"):
                # As the aistore SDK does: ask the proxy where to with an empty body, then send
                # the body once, to the target (a proxy that answered would have written nothing).
                resp = self.pool.request(method, url, body=b"", redirect=False,
                                         headers={**headers, "Content-Length": "0", "Connection": "close"})
                if resp.status not in REDIRECTS or not resp.headers.get("Location"):
                    resp.drain_conn()
                    resp.release_conn()
                    redirecting = False
                    continue  # it answers itself: send the body here after all
            else:
                resp = self.pool.request(method, url, body=body, headers=headers, preload_content=not stream,
                                         redirect=False)
            location = resp.headers.get("Location", "")
            if resp.status not in REDIRECTS or not location:
                return resp
            with self._lock:
                self._redirecting[a.alias] = True
            resp.drain_conn()
            resp.release_conn()
            if body is not None and not isinstance(body, bytes):
                if not hasattr(body, "seek"):
                    raise errors.RemoteUnavailable(f"{where}: {a.label} redirected a streamed body; the next "
                                                   "write to it is spooled and re-sent")
                body.seek(0)
            url = urllib.parse.urljoin(url, location)
        raise errors.RemoteUnavailable(f"{where}: {a.label} redirected more than {MAX_REDIRECTS} times")

    def redirects(self, a: Attachment, path: str, query: dict[str, str]) -> bool:
        """Whether the remote answers object requests with a redirect (a real AIStore's proxy
        does; an aismesh gateway does not): then a write must be rewindable. Learned once per
        remote, by a HEAD of the object that is not followed."""
        with self._lock:
            known = self._redirecting.get(a.alias)
        if known is not None:
            return known
        first = self._good.get(a.alias) or a.urls[0]
        try:
            resp = self.pool.request("HEAD", f"{first}{path}?{urllib.parse.urlencode(query)}", redirect=False)
        except urllib3.exceptions.HTTPError:
            return False  # the write itself will say what is wrong
        answer = resp.status in REDIRECTS and bool(resp.headers.get("Location"))
        with self._lock:
            self._redirecting[a.alias] = answer
        return answer


def _reason(e: Exception) -> str:
    inner = getattr(e, "reason", None)
    return str(inner or e)
