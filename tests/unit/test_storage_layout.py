"""Path derivation of the storage node: object names never become paths."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.names import Bck
from services.storage import layout

MP = "/data/mp1"
BCK = Bck("bucket", provider="aws", ns_uuid="u1", ns_name="ns")

# Object names are any UTF-8 text, path-like or not (surrogates cannot be encoded, so none).
names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=300)


@given(names)
def test_object_path_stays_in_the_bucket_folder(name: str) -> None:
    path = layout.object_path(MP, BCK, 42, name)
    bdir = layout.bucket_dir(MP, BCK, 42)
    assert os.path.normpath(path) == path
    assert path.startswith(bdir + "/%ob/")
    rel = os.path.relpath(path, bdir).split("/")
    assert len(rel) == 4 and all(len(p.encode()) <= 64 for p in rel)


@pytest.mark.parametrize("name", ["..", "../../etc/passwd", "/abs", "a//b", "x" * 300 + "/y", "a", "a/b",
                                  "./.", "ünï/cødé/☃"])
def test_tricky_names(name: str) -> None:
    path = layout.object_path(MP, Bck("b"), 1, name)
    h = layout.name_hash(name)
    assert path == f"{MP}/@ais/@#/b/1/%ob/{h[:2]}/{h[2:4]}/{h}"


def test_a_and_a_slash_b_are_different_files() -> None:
    assert layout.object_path(MP, BCK, 1, "a") != layout.object_path(MP, BCK, 1, "a/b")
    assert layout.object_path(MP, BCK, 1, "a") != layout.object_path(MP, BCK, 2, "a")


@pytest.mark.parametrize("bck", [Bck(".."), Bck("."), Bck("a/b"), Bck(""), Bck("b", provider="a/b"),
                                 Bck("b", ns_name="x/y"), Bck("b\x00")])
def test_bucket_identity_never_escapes(bck: Bck) -> None:
    with pytest.raises(InvalidArgument):
        layout.bucket_dir(MP, bck, 1)


@given(st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True).filter(lambda s: s not in (".", "..")),
       st.sampled_from(["ais", "aws", "gcp"]), st.text("abc123", max_size=5), st.text("xyz", max_size=5),
       st.integers(0, 2**63))
def test_parse_bucket_dir_inverts_bucket_dir(name: str, provider: str, uuid: str, ns: str, bid: int) -> None:
    bck = Bck(name, provider=provider, ns_uuid=uuid, ns_name=ns)
    assert layout.parse_bucket_dir(MP, layout.bucket_dir(MP, bck, bid)) == (bck, bid)


def test_parse_bucket_dir_ignores_other_folders() -> None:
    assert layout.parse_bucket_dir(MP, f"{MP}/.aismesh/work") is None
    assert layout.parse_bucket_dir(MP, f"{MP}/@ais/@#/b/notanumber") is None
    assert layout.bucket_key(Bck("b"), 7) == "ais/@#/b@7"
