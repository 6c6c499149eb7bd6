"""AIS native API: remote AIS clusters (attach, detach, list), as the `ais` CLI calls them.

    PUT /v1/cluster/attach?what=remote   headers Ais-Remote-Ais-Alias, Ais-Remote-Ais-Url
    PUT /v1/cluster/detach?what=remote   header  Ais-Remote-Ais-Alias
    GET /v1/cluster?what=remote          {"a": [{"url", "alias", "uuid", "smap", "online"}], "ver"}

Attachments live in etcd (the metadata service's remotes document), so they survive restarts.
A remote need not be online to be attached. Listing asks each remote for its cluster map (a
short deadline each, in parallel) and keeps the answer in etcd, so a remote that is offline
now is shown with what it last said, and one never reached with uuid "defunct".
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Blueprint, Response, request

from aismesh.cmn import errors
from aismesh.protos import metadata_pb2
from services.gateway.native.common import cluster

bp = Blueprint("native_remotes", __name__)
ALIAS_HEADER = "Ais-Remote-Ais-Alias"
URL_HEADER = "Ais-Remote-Ais-Url"
PROBE_TIMEOUT_S = 2.0
NEVER_REACHED = "defunct"


class NotACluster(Exception):
    """Something answered at the URL, but not an AIS cluster's map."""


def probe(url: str) -> dict[str, Any] | None:
    """The cluster map a remote AIS(-compatible) cluster answers; None when nothing answers
    (offline, not reachable); NotACluster when something else answers there."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/v1/daemon?what=smap", timeout=PROBE_TIMEOUT_S) as r:
            body = r.read(1 << 20)
    except urllib.error.HTTPError as e:
        raise NotACluster(f"{url} answered HTTP {e.code} to GET /v1/daemon?what=smap") from None
    except (OSError, ValueError):
        return None
    try:
        smap = json.loads(body)
    except ValueError:
        raise NotACluster(f"{url} answered, but not with a cluster map") from None
    if not (isinstance(smap, dict) and isinstance(smap.get("uuid"), str) and smap["uuid"]
            and isinstance(smap.get("tmap"), dict)):
        raise NotACluster(f"{url} answered, but not with a cluster map")
    return smap


def _probe_quiet(urls: str) -> dict[str, Any] | None:
    """The map of the first of an attachment's URLs (comma-separated) that answers as a cluster."""
    for url in (u.strip() for u in urls.split(",") if u.strip()):
        try:
            smap = probe(url)
        except NotACluster:
            continue
        if smap is not None:
            return smap
    return None


def refresh(attached: list[metadata_pb2.RemoteCluster]) -> list[dict[str, Any] | None]:
    """Ask every attachment for its cluster map (in parallel, a short deadline each) and keep
    what answered in etcd; the answers, in order (None: no answer now)."""
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(attached)))) as pool:
        answers = list(pool.map(lambda r: _probe_quiet(r.url), attached))
    for r, answer in zip(attached, answers, strict=True):
        if answer is not None:
            cluster().attach_remote(_known(r.alias, r.url, answer))
    return answers


def _known(alias: str, url: str, smap: dict[str, Any]) -> metadata_pb2.RemoteCluster:
    return metadata_pb2.RemoteCluster(alias=alias, url=url, uuid=smap["uuid"], smap_json=json.dumps(smap),
                                      seen_ns=time.time_ns())


def _what_remote() -> None:
    what = request.args.get("what", "")
    if what != "remote":
        raise errors.InvalidArgument(f'invalid query "what={what}": expected "what=remote"')


def _header(name: str) -> str:
    value = request.headers.get(name, "").strip()
    if not value:
        raise errors.InvalidArgument(f"missing header {name}")
    return value


@bp.route("/v1/cluster/attach", methods=["PUT"])
def attach() -> Response:
    _what_remote()
    alias = _header(ALIAS_HEADER)
    # One URL, or several of one cluster (comma-separated): the first that answers is used.
    urls = [u.strip().rstrip("/") for u in _header(URL_HEADER).split(",") if u.strip()]
    bad = [u for u in urls if not u.startswith(("http://", "https://"))]
    if bad or not urls:
        raise errors.InvalidArgument(f'invalid remote cluster URL "{(bad or [""])[0]}": expected http(s)://host:port')
    url = ",".join(urls)
    smap = None
    for one in urls:
        try:
            smap = probe(one)
        except NotACluster as e:
            raise errors.InvalidArgument(f'cannot attach "{alias}": {e} (is it an AIS cluster\'s URL?)') from None
        if smap is not None:
            break
    if smap is not None and smap["uuid"] == cluster().meta.smap.uuid:
        raise errors.InvalidArgument(f"{url} is this cluster itself (uuid {smap['uuid']}): cannot attach it")
    cluster().attach_remote(_known(alias, url, smap) if smap is not None
                            else metadata_pb2.RemoteCluster(alias=alias, url=url))
    return Response(b"", status=200)


@bp.route("/v1/cluster/detach", methods=["PUT"])
def detach() -> Response:
    _what_remote()
    cluster().detach_remote(_header(ALIAS_HEADER))
    return Response(b"", status=200)


def remote_list(args: dict[str, Any]) -> dict[str, Any]:
    """Every attachment, refreshed from the remote when it answers now."""
    c = cluster()
    attached = c.remotes()
    answers = refresh(list(attached.remotes))
    out = []
    for r, answer in zip(attached.remotes, answers, strict=True):
        smap = answer if answer is not None else (json.loads(r.smap_json) if r.smap_json else None)
        entry: dict[str, Any] = {"url": r.url, "alias": r.alias, "online": answer is not None,
                                 "uuid": smap["uuid"] if smap is not None else NEVER_REACHED}
        if smap is not None:
            entry["smap"] = smap
        out.append(entry)
    return {"a": out, "ver": attached.version}
