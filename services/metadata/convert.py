"""Documents (dicts, as stored in etcd) to the protobuf messages of metadata.proto."""

from __future__ import annotations

import json
from typing import Any

from aismesh.cmn.names import Bck
from aismesh.protos import metadata_pb2

Doc = dict[str, Any]


def bucket_info(uname: str, entry: Doc, bmd_version: int) -> metadata_pb2.BucketInfo:
    return metadata_pb2.BucketInfo(
        bck=Bck.from_uname(uname).to_proto(), bid=int(entry["bid"]), props_json=json.dumps(entry["props"]),
        created_ns=int(entry["created"]), bmd_version=bmd_version,
    )


def bmd(doc: Doc, text: str = "") -> metadata_pb2.BMD:
    v = int(doc["version"])
    return metadata_pb2.BMD(
        version=v, uuid=doc["uuid"],
        buckets=[bucket_info(u, e, v) for u, e in sorted(doc["buckets"].items())],
        json=text or json.dumps(doc, indent=2, sort_keys=True),
    )


def node(n: Doc) -> metadata_pb2.Node:
    return metadata_pb2.Node(
        id=n["id"], type=n["type"], grpc_addr=n.get("grpc_addr", ""), public_url=n.get("public_url", ""),
        mountpaths=n.get("mountpaths", []), state=n.get("state", "online"), id_digest=int(n.get("id_digest", 0)),
        joined_ns=int(n.get("joined", 0)), local_socket=n.get("local_socket", ""), host_id=n.get("host_id", ""),
    )


def smap(doc: Doc) -> metadata_pb2.Smap:
    return metadata_pb2.Smap(
        version=int(doc["version"]), uuid=doc["uuid"], primary_id=doc.get("primary_id", ""),
        nodes=[node(n) for _, n in sorted(doc["nodes"].items())],
        json=json.dumps(doc, indent=2, sort_keys=True),
    )


def node_doc(n: metadata_pb2.Node) -> Doc:
    return {"id": n.id, "type": n.type, "grpc_addr": n.grpc_addr, "public_url": n.public_url,
            "mountpaths": list(n.mountpaths), "local_socket": n.local_socket, "host_id": n.host_id}


def remotes(doc: Doc) -> metadata_pb2.RemoteList:
    return metadata_pb2.RemoteList(
        version=int(doc["version"]),
        remotes=[metadata_pb2.RemoteCluster(alias=r["alias"], url=r["url"], uuid=r.get("uuid", ""),
                                            smap_json=r.get("smap_json", ""), seen_ns=int(r.get("seen_ns", 0)))
                 for r in doc["remotes"]],
    )
