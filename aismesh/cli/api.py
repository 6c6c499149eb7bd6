"""The `ais` CLI's HTTP client: AIS native API calls over the standard library (no SDK dependency)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from aismesh.cli.uri import BucketURI

TIMEOUT_S = 60.0
CHUNK = 1 << 20


class CLIError(Exception):
    """What the CLI prints as ``Error: ...`` before exiting non-zero."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def _message(err: urllib.error.HTTPError) -> str:
    raw = err.read() or err.headers.get("Hdr-Error", "").encode()
    try:
        doc = json.loads(raw)
        return str(doc.get("message") or doc)
    except ValueError:
        return raw.decode("utf-8", "replace").strip() or f"HTTP {err.code}"


class API:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")

    def request(self, method: str, path: str, *, query: dict[str, str] | None = None, action: str | None = None,
                value: Any = None, data: bytes | BinaryIO | None = None, headers: dict[str, str] | None = None,
                stream: bool = False) -> Reply | Any:
        url = f"{self.endpoint}/v1/{path}"
        if query:
            url += "?" + urlencode(query)
        hdrs = dict(headers or {})
        body: Any = data
        if action is not None:
            body = json.dumps({"action": action, "name": "", "value": value}).encode()
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=body, method=method, headers=hdrs)
        try:
            resp = urllib.request.urlopen(req, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as e:
            raise CLIError(_message(e)) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise CLIError(f"cannot reach AIS at {self.endpoint}: {reason} (set AIS_ENDPOINT)") from None
        if stream:
            return resp
        with resp:
            return Reply(resp.status, dict(resp.headers.items()), resp.read())

    # --- cluster -----------------------------------------------------------------------------

    def smap(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.request("GET", "daemon", query={"what": "smap"}).json()
        return doc

    def node_status(self, node_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = self.request("GET", "reverse/daemon", query={"what": "node_status"},
                                           headers={"Ais-Node-Id": node_id}).json()
        return doc

    def cluster_what(self, what: str, value: Any = None) -> Any:
        body = json.dumps(value).encode() if value is not None else None
        hdrs = {"Content-Type": "application/json"} if body else {}
        return self.request("GET", "cluster", query={"what": what}, data=body, headers=hdrs).json()

    # --- buckets -----------------------------------------------------------------------------

    def list_buckets(self, provider: str = "", namespace: str = "", presence: str = "") -> list[dict[str, Any]]:
        query = {"provider": provider, **({"namespace": namespace} if namespace else {}),
                 **({"presence": presence} if presence else {})}
        out: list[dict[str, Any]] = self.request("GET", "buckets", query=query, action="list").json() or []
        return out

    def bucket(self, bck: BucketURI, method: str, action: str | None = None, value: Any = None,
               query: dict[str, str] | None = None) -> Reply:
        q = bck.query()
        q.update(query or {})
        reply: Reply = self.request(method, f"buckets/{bck.name}", query=q, action=action, value=value)
        return reply

    def bucket_props(self, bck: BucketURI) -> tuple[dict[str, Any], list[str]]:
        reply = self.bucket(bck, "HEAD")
        unenforced = [k for k in reply.headers.get("Ais-Props-Not-Enforced", "").split(",") if k]
        return json.loads(reply.headers.get("Ais-Bucket-Props", "{}")), unenforced

    def list_objects(self, bck: BucketURI, prefix: str = "", page_size: int = 0, token: str = "",
                     props: str = "name,size", flags: int = 0) -> dict[str, Any]:
        value = {"prefix": prefix, "pagesize": page_size, "uuid": "", "props": props,
                 "continuation_token": token, "flags": str(flags), "target": ""}
        doc: dict[str, Any] = self.bucket(bck, "GET", "list", value).json()
        return doc

    def iter_objects(self, bck: BucketURI, prefix: str = "", props: str = "name,size",
                     flags: int = 0) -> Iterator[dict[str, Any]]:
        token = ""
        while True:
            page = self.list_objects(bck, prefix=prefix, token=token, props=props, flags=flags)
            yield from page.get("entries") or []
            token = page.get("continuation_token") or ""
            if not token:
                return

    # --- objects -----------------------------------------------------------------------------

    def object_path(self, bck: BucketURI, name: str) -> str:
        return f"objects/{bck.name}/{quote(name)}"

    def put_object(self, bck: BucketURI, name: str, data: bytes | BinaryIO, size: int) -> Reply:
        reply: Reply = self.request("PUT", self.object_path(bck, name), query=bck.query(), data=data,
                                    headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"})
        return reply

    def get_object(self, bck: BucketURI, name: str) -> Any:
        return self.request("GET", self.object_path(bck, name), query=bck.query(), stream=True)

    def delete_object(self, bck: BucketURI, name: str) -> None:
        self.request("DELETE", self.object_path(bck, name), query=bck.query())
