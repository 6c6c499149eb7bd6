"""Fields of native ActMsg values: integers and strings of the right JSON type, or a 400 naming them."""

import json
from typing import Any

import pytest

from aismesh.cmn.errors import InvalidArgument
from services.gateway.native.common import MAX_UINT64, int_field, msg_value, str_field


def value(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    return doc


@pytest.mark.parametrize(("text", "quoted", "expected"), [
    ("{}", False, 0), ('{"n": null}', False, 0), ('{"n": 0}', False, 0), ('{"n": 42}', False, 42),
    ('{"n": "42"}', True, 42), (f'{{"n": {MAX_UINT64}}}', False, MAX_UINT64),
    (f'{{"n": "{MAX_UINT64}"}}', True, MAX_UINT64),
])
def test_int_field(text: str, quoted: bool, expected: int) -> None:
    assert int_field(value(text), "n", "msg", quoted=quoted) == expected


@pytest.mark.parametrize("raw", ["1.5", "1.0", "true", "false", "Infinity", "-Infinity", "NaN", "1e400", "-1", '"abc"',
                                 '"-1"', '"1e3"', '" 1"', "[]", "{}", str(MAX_UINT64 + 1), f'"{MAX_UINT64 + 1}"',
                                 '"' + "9" * 5000 + '"'])
def test_int_field_refused(raw: str) -> None:
    with pytest.raises(InvalidArgument, match='invalid msg: "n" must be an integer'):
        int_field(value(f'{{"n": {raw}}}'), "n", "msg", quoted=True)


def test_int_field_unquoted_refuses_strings() -> None:
    with pytest.raises(InvalidArgument, match='"n"'):
        int_field({"n": "10"}, "n", "msg")


def test_int_field_bound() -> None:
    assert int_field({"n": 10}, "n", "msg", hi=10) == 10
    with pytest.raises(InvalidArgument, match="between 0 and 10"):
        int_field({"n": 11}, "n", "msg", hi=10)


def test_str_field() -> None:
    assert str_field({"s": "x"}, "s", "msg") == "x"
    assert str_field({"s": None}, "s", "msg") == str_field({}, "s", "msg") == ""
    bad: Any
    for bad in (5, [], {}, True):
        with pytest.raises(InvalidArgument, match='"s" must be a string'):
            str_field({"s": bad}, "s", "msg")


def test_msg_value() -> None:
    assert msg_value({}, "msg") == msg_value({"value": None}, "msg") == {}
    assert msg_value({"value": {"a": 1}}, "msg") == {"a": 1}
    bad: Any
    for bad in ([], "abc", 5, False):
        with pytest.raises(InvalidArgument, match='"value" must be a JSON object'):
            msg_value({"value": bad}, "msg")
