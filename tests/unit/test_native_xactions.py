"""Pure parts of the native jobs: range templates, selections, copy options, job snapshots, unames."""

from __future__ import annotations

import json

import pytest

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.names import Bck
from services.gateway.native import jobs, object_ops, xactions


@pytest.mark.parametrize(("template", "names"), [
    ("f{0..3}", ["f0", "f1", "f2", "f3"]),
    ("shard-{001..010..3}.tar", ["shard-001.tar", "shard-004.tar", "shard-007.tar", "shard-010.tar"]),
    ("a{1..2}/b{1..2}", ["a1/b1", "a1/b2", "a2/b1", "a2/b2"]),
    ("plain-prefix/", ["plain-prefix/"]),
])
def test_expand_template(template: str, names: list[str]) -> None:
    assert xactions.expand_template(template) == names


@pytest.mark.parametrize("bad", ["x{5..1}", "x{0..2000000}"])
def test_expand_template_refuses(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        xactions.expand_template(bad)


@pytest.mark.parametrize(("value", "words"), [
    ({}, "required"), ({"objnames": "a"}, "list of strings"), ({"objnames": ["a"], "template": "b"}, "not both"),
    ({"template": 3}, "must be a string"),
])
def test_selection_refuses(value: dict, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        xactions.Selection.from_msg(value, "delete-listrange")


def test_copy_options_from_the_sdk_message() -> None:
    msg = {"prefix": "p/", "prepend": "x-", "dry_run": True, "force": False, "latest-ver": True,
           "synchronize": False}
    assert xactions.CopyOptions.from_msg(msg) == xactions.CopyOptions("p/", "x-", True, True, False)
    with pytest.raises(InvalidArgument, match="dry_run"):
        xactions.CopyOptions.from_msg({"dry_run": "yes"})


def test_job_snapshot_and_status_shapes() -> None:
    job = jobs.Job(id="j1", kind="copy-bck", src_bck=jobs.bck_model(Bck("a")), dst_bck=jobs.bck_model(Bck("b")),
                   start_ns=1_700_000_000_000_000_000)
    snap = job.snap()
    assert snap["end-time"] == jobs.ZERO_TIME and not snap["is_idle"] and snap["src-bck"]["name"] == "a"
    assert job.status() == {"uuid": "j1", "kind": "copy-bck", "err": "", "end_time": 0, "aborted": False}
    job.end_ns = job.start_ns + 1
    assert job.snap()["is_idle"] and job.snap()["end-time"].startswith("2023-11-14T22:13:20")
    again = jobs.Job.from_json(job.to_json())
    assert again == job and "abort_requested" not in json.loads(job.to_json())


def test_object_uname() -> None:
    assert object_ops.parse_object_uname("ais/@#/dst/dir/o") == (Bck("dst"), "dir/o")
    assert object_ops.parse_object_uname("aws/@#/b/o")[0].provider == "aws"
    with pytest.raises(InvalidArgument, match="object_to"):
        object_ops.parse_object_uname("ais/@#/dst")


def test_a_job_whose_runner_stopped_reads_as_failed() -> None:
    now = 1_800_000_000_000_000_000
    fresh = jobs.Job(id="j1", kind="copy-bck", start_ns=now - 10, updated_ns=now - 1_000_000_000)
    assert fresh.settle_orphan(now).is_running
    stale = jobs.Job(id="j2", kind="copy-bck", start_ns=now - 10, updated_ns=now - jobs.ORPHAN_AFTER_NS - 1)
    stale.settle_orphan(now)
    assert not stale.is_running and "stopped" in stale.err and stale.status()["end_time"] == stale.updated_ns
