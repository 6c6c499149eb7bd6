"""HTTP(S) to an origin with bounded time and bounded redirects (stdlib http.client only)."""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any

from aismesh.cmn import errors
from services.backends.common import CONNECT_TIMEOUT_S, READ_TIMEOUT_S

MAX_REDIRECTS = 5


@dataclass
class Response:
    status: int
    headers: Any  # http.client.HTTPMessage
    body: http.client.HTTPResponse
    conn: http.client.HTTPConnection
    url: str

    def close(self) -> None:
        self.body.close()
        self.conn.close()

    def header(self, name: str) -> str:
        return str(self.headers.get(name, "") or "")


def request(method: str, url: str, headers: dict[str, str] | None = None, where: str = "") -> Response:
    """One request, following at most MAX_REDIRECTS redirects and never the same URL twice."""
    seen: set[str] = set()
    for _ in range(MAX_REDIRECTS + 1):
        if url in seen:
            raise errors.RemoteUnavailable(f"ht: redirect loop at {url} ({where})")
        seen.add(url)
        resp = _once(method, url, headers or {}, where)
        if resp.status in (301, 302, 303, 307, 308) and resp.header("Location"):
            nxt = urllib.parse.urljoin(url, resp.header("Location"))
            resp.close()
            url = nxt
            continue
        return resp
    raise errors.RemoteUnavailable(f"ht: more than {MAX_REDIRECTS} redirects from {url} ({where})")


def _once(method: str, url: str, headers: dict[str, str], where: str) -> Response:
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise errors.InvalidArgument(f'ht: "{url}" is not an http(s) URL ({where})')
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    conn: http.client.HTTPConnection
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=CONNECT_TIMEOUT_S,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=CONNECT_TIMEOUT_S)
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(READ_TIMEOUT_S)
        conn.request(method, path, headers=headers)
        body = conn.getresponse()
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        raise errors.RemoteUnavailable(f"ht origin {u.scheme}://{u.netloc} is unreachable ({where}): {e}") from None
    return Response(status=body.status, headers=body.headers, body=body, conn=conn, url=url)


def check_status(resp: Response, where: str, obj: str = "") -> None:
    """Raise the mesh error for a failed origin answer (and close it)."""
    if resp.status < 400:
        return
    status = resp.status
    resp.close()
    if status == 404 or status == 410:
        if obj:
            raise errors.ObjectNotFound(f"{where}/{obj} does not exist at the origin (ht)", obj=obj)
        raise errors.BucketNotFound(f"ht bucket {where}: the origin answers {status}")
    if status == 401:
        raise errors.Unauthenticated(f"ht origin of {where} asks for credentials (401)")
    if status == 403:
        raise errors.AccessDenied(f"ht origin of {where} denied access (403){' to ' + obj if obj else ''}")
    if status == 412:
        raise errors.PreconditionFailed(f"{where}/{obj} changed at the origin (ht)", obj=obj)
    if status == 416:
        raise errors.RangeNotSatisfiable(f"{where}/{obj}: range not satisfiable at the origin")
    if status == 429:
        raise errors.Throttled(f"ht origin of {where} throttles requests (429)")
    if status in (501, 405):
        raise errors.NotImplemented(f"ht origin of {where} does not support this request ({status})")
    if status >= 500:
        raise errors.RemoteUnavailable(f"ht origin of {where} failed ({status})")
    raise errors.InvalidArgument(f"ht origin of {where} refused the request ({status})")
