"""The core of AIStore's native API over plain HTTP, as the aistore SDK speaks it."""

from __future__ import annotations

import json
import os
from typing import Any

import msgpack
import pytest
import requests

pytestmark = pytest.mark.integration
ACT = {"Content-Type": "application/json"}


def act(action: str, value: Any = None) -> str:
    return json.dumps({"action": action, "name": "", "value": value})


@pytest.fixture
def nbucket(mesh: Any) -> Any:
    name = f"native-{os.urandom(3).hex()}"
    r = requests.post(f"{mesh.url}/v1/buckets/{name}?provider=ais", data=act("create-bck"), headers=ACT, timeout=10)
    assert r.status_code == 200, r.text
    yield name
    requests.delete(f"{mesh.url}/v1/buckets/{name}?provider=ais", data=act("destroy-bck"), headers=ACT, timeout=10)


def test_smap_and_health(mesh: Any) -> None:
    smap = requests.get(f"{mesh.url}/v1/daemon?what=smap", timeout=10).json()
    assert set(smap["tmap"]) == {"t1", "t2", "t3"}
    assert smap["proxy_si"]["public_net"]["direct_url"] == mesh.url
    assert isinstance(smap["proxy_si"]["public_net"]["daemon_port"], str)
    assert requests.get(f"{mesh.url}/v1/health?prr=true", timeout=10).status_code == 200


def test_bucket_lifecycle_and_errors(mesh: Any, nbucket: str) -> None:
    listed = requests.get(f"{mesh.url}/v1/buckets?provider=ais", data=act("list"), headers=ACT, timeout=10).json()
    assert {"name": nbucket, "provider": "ais", "namespace": {"uuid": "", "name": ""}} in listed
    again = requests.post(f"{mesh.url}/v1/buckets/{nbucket}?provider=ais", data=act("create-bck"), headers=ACT,
                          timeout=10)
    assert again.status_code == 409 and f'bucket "ais://{nbucket}" already exists' in again.json()["message"]
    head = requests.head(f"{mesh.url}/v1/buckets/{nbucket}?provider=ais", timeout=10)
    assert json.loads(head.headers["Ais-Bucket-Props"])["provider"] == "ais"
    bad = requests.post(f"{mesh.url}/v1/buckets/bad$name?provider=ais", data=act("create-bck"), headers=ACT,
                        timeout=10)
    assert bad.status_code == 400
    missing = requests.head(f"{mesh.url}/v1/buckets/nope-{os.urandom(3).hex()}?provider=ais", timeout=10)
    assert missing.status_code == 404 and "does not exist" in missing.headers["Hdr-Error"]


def test_objects_and_msgpack_listing(mesh: Any, nbucket: str) -> None:
    base = f"{mesh.url}/v1/objects/{nbucket}"
    names = [f"p/obj {i}%?#" for i in range(5)]
    for n in names:
        quoted = requests.utils.quote(n, safe="/")
        put = requests.put(f"{base}/{quoted}?provider=ais", data=n.encode(), headers=ACT, timeout=10)
        assert put.status_code == 200
    first = requests.utils.quote(names[0], safe="/")
    got = requests.get(f"{base}/{first}?provider=ais", timeout=10)
    assert got.content == names[0].encode() and got.headers["Ais-Checksum-Type"] == "xxhash"
    part = requests.get(f"{base}/{first}?provider=ais", headers={"Range": "bytes=0-4"}, timeout=10)
    assert part.status_code == 206 and part.content == names[0].encode()[:5]
    head = requests.head(f"{base}/{first}?provider=ais&props=checksum,atime,version", timeout=10)
    assert head.headers["Content-Length"] == str(len(names[0])) and head.headers["Ais-Version"] == "1"
    lso = {"prefix": "p/", "pagesize": 3, "uuid": "", "props": "name,size", "continuation_token": "", "flags": "0"}
    page = requests.get(f"{mesh.url}/v1/buckets/{nbucket}?provider=ais", data=act("list", lso),
                        headers={**ACT, "Accept": "application/msgpack"}, timeout=10)
    assert page.headers["Content-Type"] == "application/msgpack"
    doc = msgpack.unpackb(page.content)
    assert [e["n"] for e in doc["Entries"]] == sorted(names)[:3]
    assert doc["ContinuationToken"] == sorted(names)[2] and doc["UUID"]
    gone = requests.delete(f"{base}/nope?provider=ais", timeout=10)
    assert gone.status_code == 404 and f"ais://{nbucket}/nope does not exist" in gone.json()["message"]
    for n in names:
        requests.delete(f"{base}/{requests.utils.quote(n, safe='/')}?provider=ais", timeout=10)
