"""The metadata documents and their pure changes."""

import pytest

from aismesh.cmn import errors
from aismesh.cmn.names import Bck
from services.metadata import docs


def bmd_with(*names: str) -> dict:
    bmd = docs.seal(docs.new_bmd("uuid1"))
    for n in names:
        bmd = docs.create_bucket(bmd, Bck(n), None, None, 123)
    return bmd


def test_create_assigns_growing_bids_and_checksums() -> None:
    bmd = bmd_with("a", "b")
    assert bmd["version"] == 3
    assert bmd["buckets"]["ais/@#/a"]["bid"] == 2
    assert bmd["buckets"]["ais/@#/b"]["bid"] == 3
    assert bmd["checksum"]["value"] == docs.checksum(bmd)
    assert bmd["buckets"]["ais/@#/a"]["props"]["bid"] == "2"


def test_create_refuses_duplicates_and_bad_names() -> None:
    bmd = bmd_with("a")
    with pytest.raises(errors.AlreadyExists, match='bucket "ais://a" already exists'):
        docs.create_bucket(bmd, Bck("a"), None, None, 1)
    with pytest.raises(errors.InvalidArgument):
        docs.create_bucket(bmd, Bck("bad name"), None, None, 1)


def test_destroy_and_not_found_wording() -> None:
    bmd = docs.destroy_bucket(bmd_with("a"), Bck("a"))
    assert bmd["buckets"] == {}
    with pytest.raises(errors.BucketNotFound, match='bucket "ais://a" does not exist'):
        docs.destroy_bucket(bmd, Bck("a"))
    with pytest.raises(errors.BucketNotFound, match='aws bucket "s3://x" does not exist'):
        docs.destroy_bucket(bmd, Bck("x", provider="aws"))


def test_set_props_partial_and_reset() -> None:
    bmd = docs.set_bucket_props(bmd_with("a"), Bck("a"), {"checksum": {"type": "md5"}}, False, None)
    p = bmd["buckets"]["ais/@#/a"]["props"]
    assert p["checksum"]["type"] == "md5" and p["bid"] == "2"
    reset = docs.set_bucket_props(bmd, Bck("a"), {}, True, None)
    assert reset["buckets"]["ais/@#/a"]["props"]["checksum"]["type"] == "xxhash"


def test_smap_membership() -> None:
    smap = docs.seal(docs.new_smap("u"))
    smap = docs.upsert_node(smap, {"id": "t1", "type": "target", "grpc_addr": "h:1"}, 5)
    assert smap["nodes"]["t1"]["state"] == "online"
    same = docs.upsert_node(smap, {"id": "t1", "type": "target", "grpc_addr": "h:1"}, 9)
    assert same is smap  # nothing changed: no new version
    off = docs.set_node_state(smap, "t1", "offline")
    assert off["nodes"]["t1"]["state"] == "offline" and off["version"] == smap["version"] + 1
    back = docs.upsert_node(off, {"id": "t1", "type": "target", "grpc_addr": "h:2"}, 9)
    assert back["nodes"]["t1"]["state"] == "online" and back["nodes"]["t1"]["joined"] == 5
    with pytest.raises(errors.InvalidArgument):
        docs.upsert_node(smap, {"id": "t2", "type": "robot"}, 1)


def test_remotes() -> None:
    r = docs.attach_remote(docs.new_remotes(), "remais", "http://h:51080")
    assert r["remotes"] == [{"alias": "remais", "url": "http://h:51080", "uuid": ""}]
    with pytest.raises(errors.NotFound, match='remote cluster "nope": not found'):
        docs.detach_remote(r, "nope")
    with pytest.raises(errors.InvalidArgument):
        docs.attach_remote(r, "what", "http://h:1")
    assert docs.detach_remote(r, "remais")["remotes"] == []


@pytest.mark.parametrize(("bck", "problem"), [
    (Bck("okname", ns_uuid="../..", ns_name="x"), 'namespace uuid "../.." is invalid'),
    (Bck("okname", ns_uuid="u1", ns_name="a/b"), 'namespace name "a/b" is invalid'),
    (Bck("okname", ns_uuid="u1", ns_name="x" * 65), "namespace name"),
    (Bck("bad name <x>", provider="aws"), 'bucket name "bad name <x>" is invalid'),
    (Bck("bad name <x>", ns_uuid="u1"), 'bucket name "bad name <x>" is invalid'),
    (Bck("a/b", provider="gcp"), 'bucket name "a/b" is invalid'),
    (Bck("..", provider="aws"), "is invalid"),
    (Bck("", provider="aws"), "bucket name is empty"),
    (Bck("fine", provider="nope"), 'invalid backend provider "nope"'),
])
def test_create_validates_the_whole_identity(bck: Bck, problem: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=problem.replace("(", r"\(").replace(".", r"\.")):
        docs.create_bucket(bmd_with(), bck, None, None, 1)


def test_create_accepts_namespaces_and_cloud_names() -> None:
    bmd = docs.create_bucket(bmd_with(), Bck("data", ns_uuid="Remais-1", ns_name="ns_2"), None, None, 1)
    bmd = docs.create_bucket(bmd, Bck("My_Bucket.v2", provider="aws"), None, None, 1)
    assert {"ais/@Remais-1#ns_2/data", "aws/@#/My_Bucket.v2"} <= set(bmd["buckets"])


def test_attach_remote_refreshes_what_is_known_and_refuses_a_second_alias_for_one_cluster() -> None:
    remotes = docs.seal(docs.new_remotes())
    offline = docs.attach_remote(remotes, "remais", "http://h:51080")  # never answered yet
    assert offline["remotes"] == [{"alias": "remais", "url": "http://h:51080", "uuid": ""}]
    assert docs.attach_remote(offline, "remais", "http://h:51080") is offline  # nothing new: not written
    known = docs.attach_remote(offline, "remais", "http://h:51080", "U1", '{"uuid": "U1"}', 7)
    assert known["remotes"][0] == {"alias": "remais", "url": "http://h:51080", "uuid": "U1",
                                   "smap_json": '{"uuid": "U1"}', "seen_ns": 7}
    assert known["version"] == offline["version"] + 1
    with pytest.raises(errors.AlreadyExists, match='already attached as "remais"'):
        docs.attach_remote(known, "other", "http://h2:51080", "U1", "{}", 8)
    with pytest.raises(errors.AlreadyExists, match="already attached to http://h:51080"):
        docs.attach_remote(known, "remais", "http://elsewhere:1")
