"""A small in-memory fake of OCI Object Storage's REST API, enough for the oci SDK (no emulator exists).

``python -m tests.fakes.oci_objectstorage --port N``. Covers namespace, buckets (get, head, list,
create), objects (list with prefix/start/limit/delimiter, get with range and If-Match, head, put,
delete) and multipart uploads (create, part, commit, abort). The request signature is not checked.
Errors are OCI's: status plus ``{"code", "message"}`` (HEAD answers carry no body).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

NAMESPACE = "ns-test"


@dataclass
class Obj:
    data: bytes
    content_type: str
    meta: dict[str, str]
    etag: str = field(default_factory=lambda: str(uuid.uuid4()))
    mtime: float = 0.0
    md5_b64: str = ""           # single-part objects
    multipart_md5: str = ""     # "<base64 md5 of the part md5s>-<n>"


@dataclass
class Upload:
    bucket: str
    name: str
    content_type: str
    meta: dict[str, str]
    parts: dict[int, tuple[bytes, str]] = field(default_factory=dict)


class Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[str, dict[str, Obj]] = {}
        self.uploads: dict[str, Upload] = {}


class Handler(BaseHTTPRequestHandler):
    store: Store
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    # --- plumbing ---------------------------------------------------------------------------

    def _body(self) -> bytes:
        if self.headers.get("expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("opc-request-id", uuid.uuid4().hex)
        if status != 204:
            self.send_header("content-type", ctype)
        for k, v in (headers or {}).items():
            if k != "content-length":
                self.send_header(k, v)
        self.send_header("content-length", str(len(body)) if self.command != "HEAD" else
                         (headers or {}).get("content-length", "0"))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(doc).encode(), headers)

    def _err(self, status: int, code: str, message: str = "") -> None:
        if self.command == "HEAD":
            self._send(status, b"", {"content-length": "0"})
        else:
            self._json(status, {"code": code, "message": message or code})

    def _route(self) -> tuple[list[str], dict[str, str]]:
        u = urlsplit(self.path)
        parts = [unquote(p) for p in u.path.split("/")[1:]]
        return parts, {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}

    # --- dispatch ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        p, q = self._route()
        m = self.command
        if p == ["n"] and m == "GET":
            return self._json(200, NAMESPACE)
        if len(p) < 3 or p[0] != "n" or p[2] != "b":
            return self._err(404, "NotFound", "no such route")
        if len(p) == 3:
            return self._buckets(m, q)
        bucket = p[3]
        with self.store.lock:
            objs = self.store.buckets.get(bucket)
        if len(p) == 4:
            return self._bucket(m, bucket, objs)
        if objs is None:
            return self._err(404, "BucketNotFound", f"bucket {bucket} does not exist")
        if p[4] == "o" and len(p) == 5 and m == "GET":
            return self._list(objs, q)
        if p[4] == "o" and len(p) == 6:
            return self._object(m, objs, p[5])
        if p[4] == "u":
            return self._multipart(m, bucket, objs, p[5] if len(p) == 6 else "", q)
        return self._err(404, "NotFound", "no such route")

    def _buckets(self, m: str, q: dict[str, str]) -> None:
        if m == "GET":
            with self.store.lock:
                names = sorted(self.store.buckets)
            return self._json(200, [{"namespace": NAMESPACE, "name": n, "compartmentId": q.get("compartmentId", ""),
                                     "createdBy": "x", "timeCreated": "2026-01-01T00:00:00Z", "etag": "e"}
                                    for n in names])
        if m == "POST":
            doc = json.loads(self._body() or b"{}")
            with self.store.lock:
                if doc["name"] in self.store.buckets:
                    return self._err(409, "BucketAlreadyExists")
                self.store.buckets[doc["name"]] = {}
            return self._json(200, self._bucket_doc(doc["name"]))
        return self._err(405, "MethodNotAllowed")

    @staticmethod
    def _bucket_doc(name: str) -> dict[str, Any]:
        return {"namespace": NAMESPACE, "name": name, "compartmentId": "ocid1.compartment.oc1..x", "createdBy": "x",
                "timeCreated": "2026-01-01T00:00:00Z", "etag": "e", "versioning": "Disabled"}

    def _bucket(self, m: str, bucket: str, objs: dict[str, Obj] | None) -> None:
        if objs is None:
            return self._err(404, "BucketNotFound", f"bucket {bucket} does not exist")
        if m in ("GET", "HEAD"):
            return self._json(200, self._bucket_doc(bucket), {"etag": "e"})
        return self._err(405, "MethodNotAllowed")

    def _list(self, objs: dict[str, Obj], q: dict[str, str]) -> None:
        prefix, start, delim = q.get("prefix", ""), q.get("start", ""), q.get("delimiter", "")
        limit = int(q.get("limit") or 1000)
        with self.store.lock:
            names = sorted(n for n in objs if n.startswith(prefix) and n >= start)
        out: list[dict[str, Any]] = []
        prefixes: list[str] = []
        nxt = ""
        for n in names:
            if delim:
                cut = n.find(delim, len(prefix))
                if cut >= 0:
                    pfx = n[:cut + 1]
                    if pfx not in prefixes:
                        if len(out) + len(prefixes) >= limit:
                            nxt = n
                            break
                        prefixes.append(pfx)
                    continue
            if len(out) + len(prefixes) >= limit:
                nxt = n
                break
            o = objs[n]
            out.append({"name": n, "size": len(o.data), "etag": o.etag, "md5": o.md5_b64 or o.multipart_md5,
                        "timeCreated": _iso(o.mtime), "timeModified": _iso(o.mtime)})
        doc: dict[str, Any] = {"objects": out, "prefixes": prefixes}
        if nxt:
            doc["nextStartWith"] = nxt
        self._json(200, doc)

    def _obj_headers(self, o: Obj) -> dict[str, str]:
        h = {"etag": o.etag, "last-modified": formatdate(o.mtime, usegmt=True), "accept-ranges": "bytes"}
        if o.md5_b64:
            h["content-md5"] = o.md5_b64
        if o.multipart_md5:
            h["opc-multipart-md5"] = o.multipart_md5
        h.update({f"opc-meta-{k}": v for k, v in o.meta.items()})
        return h

    def _object(self, m: str, objs: dict[str, Obj], name: str) -> None:
        if m == "PUT":
            data = self._body()
            meta = {k[9:]: v for k, v in self.headers.items() if k.lower().startswith("opc-meta-")}
            o = Obj(data, self.headers.get("content-type") or "application/octet-stream", meta,
                    mtime=_now(), md5_b64=base64.b64encode(hashlib.md5(data).digest()).decode())
            with self.store.lock:
                objs[name] = o
            return self._send(200, b"", {"etag": o.etag, "opc-content-md5": o.md5_b64,
                                         "last-modified": formatdate(o.mtime, usegmt=True)})
        with self.store.lock:
            o_ = objs.get(name)
        if o_ is None:
            return self._err(404, "ObjectNotFound", f"object {name} does not exist")
        o = o_
        if m == "DELETE":
            with self.store.lock:
                objs.pop(name, None)
            return self._send(204)
        if m not in ("GET", "HEAD"):
            return self._err(405, "MethodNotAllowed")
        if_match = self.headers.get("if-match")
        if if_match and if_match != o.etag:
            return self._err(412, "IfMatchFailed", "the ETag does not match")
        h = self._obj_headers(o)
        size = len(o.data)
        rng = self.headers.get("range", "")
        body, status = o.data, 200
        if rng.startswith("bytes=") and m == "GET":
            first, _, last = rng[6:].partition("-")
            if first == "":
                start, end = max(size - int(last), 0), size - 1
            else:
                start, end = int(first), min(int(last) if last else size - 1, size - 1)
            if start >= size:
                return self._err(416, "InvalidRange", f"range {rng} is not satisfiable for {size} bytes")
            body, status = o.data[start:end + 1], 206
            h["content-range"] = f"bytes {start}-{end}/{size}"
        h["content-length"] = str(len(body))
        self._send(status, body, h, ctype=o.content_type)

    def _multipart(self, m: str, bucket: str, objs: dict[str, Obj], name: str, q: dict[str, str]) -> None:
        if not name and m == "POST":
            doc = json.loads(self._body() or b"{}")
            uid = uuid.uuid4().hex
            with self.store.lock:
                self.store.uploads[uid] = Upload(bucket, doc["object"], doc.get("contentType") or
                                                 "application/octet-stream", doc.get("metadata") or {})
            return self._json(200, {"namespace": NAMESPACE, "bucket": bucket, "object": doc["object"], "uploadId": uid,
                                    "timeCreated": _iso(_now())})
        with self.store.lock:
            up = self.store.uploads.get(q.get("uploadId", ""))
        if up is None or up.name != name:
            return self._err(404, "NoSuchUpload", "no such upload")
        if m == "PUT":
            data = self._body()
            md5 = hashlib.md5(data).digest()
            etag = uuid.uuid4().hex
            with self.store.lock:
                up.parts[int(q["uploadPartNum"])] = (data, etag)
            return self._send(200, b"", {"etag": etag, "opc-content-md5": base64.b64encode(md5).decode()})
        if m == "POST":
            doc = json.loads(self._body() or b"{}")
            nums = [int(p["partNum"]) for p in doc.get("partsToCommit", [])]
            for p in doc.get("partsToCommit", []):
                if up.parts.get(int(p["partNum"]), (b"", ""))[1] != p["etag"]:
                    return self._err(400, "InvalidPart", f"part {p['partNum']}")
            datas = [up.parts[n][0] for n in sorted(nums)]
            digest = hashlib.md5(b"".join(hashlib.md5(d).digest() for d in datas)).digest()
            o = Obj(b"".join(datas), up.content_type, up.meta, mtime=_now(),
                    multipart_md5=f"{base64.b64encode(digest).decode()}-{len(datas)}")
            with self.store.lock:
                objs[name] = o
                self.store.uploads.pop(q["uploadId"], None)
            return self._send(200, b"", {"etag": o.etag, "opc-multipart-md5": o.multipart_md5,
                                         "last-modified": formatdate(o.mtime, usegmt=True)})
        if m == "DELETE":
            with self.store.lock:
                self.store.uploads.pop(q["uploadId"], None)
            return self._send(204)
        return self._err(405, "MethodNotAllowed")


def _now() -> float:
    return time.time()


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    handler = type("H", (Handler,), {"store": Store()})
    srv = ThreadingHTTPServer((args.host, args.port), handler)
    srv.daemon_threads = True
    with contextlib.suppress(KeyboardInterrupt):
        srv.serve_forever(0.1)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    raise SystemExit(main())
