"""Tests for audit.canonical."""

import datetime
import decimal
import enum
import hashlib

import pytest

from audit.tlog.canonical import GENESIS, CanonicalJSONError, canonical_json, chain_hash, leaf_hash


def test_exact_encoding():
    value = {"b": 1, "a": [True, False, None, "x", -7], "c": {}}
    assert canonical_json(value) == b'{"a":[true,false,null,"x",-7],"b":1,"c":{}}'


def test_scalars_and_empty_containers():
    assert canonical_json(None) == b"null"
    assert canonical_json(True) == b"true"
    assert canonical_json(0) == b"0"
    assert canonical_json("") == b'""'
    assert canonical_json([]) == b"[]"
    assert canonical_json({}) == b"{}"


def test_deterministic_across_calls():
    value = {"actor": "mod-7", "ids": list(range(20)), "meta": {"z": None, "a": "b"}}
    assert len({canonical_json(value) for _ in range(10)}) == 1


def test_key_order_does_not_matter():
    one = {"x": 1, "y": {"b": [1, {"q": 1, "p": 2}], "a": 2}}
    two = {"y": {"a": 2, "b": [1, {"p": 2, "q": 1}]}, "x": 1}
    assert canonical_json(one) == canonical_json(two)


def test_list_order_matters():
    assert canonical_json([1, 2]) != canonical_json([2, 1])


def test_large_ints_are_exact():
    assert canonical_json(2**64 + 1) == b"18446744073709551617"
    assert canonical_json(-(2**63)) == b"-9223372036854775808"


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        0.5,
        float("nan"),
        float("inf"),
        float("-inf"),
        [1, 2.5],
        {"a": {"b": [float("nan")]}},
        (1, 2),
        {1, 2},
        b"bytes",
        decimal.Decimal("1.5"),
        datetime.date(2024, 1, 1),
        object(),
    ],
    ids=repr,
)
def test_rejected_values(value):
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)


@pytest.mark.parametrize("key", [1, None, True, 1.5, (1, 2)], ids=repr)
def test_non_string_keys_rejected(key):
    with pytest.raises(CanonicalJSONError):
        canonical_json({key: "v"})
    with pytest.raises(CanonicalJSONError):
        canonical_json({"outer": {key: "v"}})


def test_subclasses_of_allowed_types_rejected():
    class Level(enum.IntEnum):
        HIGH = 1

    class Colour(enum.StrEnum):
        RED = "red"

    for value in (Level.HIGH, Colour.RED, {"k": Level.HIGH}):
        with pytest.raises(CanonicalJSONError):
            canonical_json(value)


def test_cycles_and_deep_nesting_rejected():
    loop: list = []
    loop.append(loop)
    with pytest.raises(CanonicalJSONError):
        canonical_json(loop)
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(CanonicalJSONError):
        canonical_json(deep)


def test_errors_are_value_errors():
    assert issubclass(CanonicalJSONError, ValueError)


def test_unicode_is_utf8_not_escaped():
    assert canonical_json({"name": "Zoë"}) == '{"name":"Zoë"}'.encode()
    assert canonical_json("日本語") == '"日本語"'.encode()
    assert canonical_json("\U0001f600") == b'"\xf0\x9f\x98\x80"'


def test_control_characters_and_quotes_are_escaped():
    assert canonical_json('a"b\\c\n\t\x01') == b'"a\\"b\\\\c\\n\\t\\u0001"'


def test_lone_surrogate_rejected():
    with pytest.raises(CanonicalJSONError):
        canonical_json("\ud800")


def test_no_unicode_normalisation():
    composed, decomposed = "\u00e9", "e\u0301"
    assert canonical_json(composed) != canonical_json(decomposed)


def test_keys_sort_by_code_point():
    value = {"b": 1, "a": 2, "B": 3, "é": 4, "\U0001f600": 5, "\uffff": 6}
    expected = '{"B":3,"a":2,"b":1,"é":4,"\uffff":6,"\U0001f600":5}'.encode()
    assert canonical_json(value) == expected


def test_leaf_hash():
    fields = {"seq": 1, "actor": "alice"}
    expected = hashlib.sha256(b'\x00{"actor":"alice","seq":1}').digest()
    assert leaf_hash(fields) == expected
    assert leaf_hash({"actor": "alice", "seq": 1}) == expected
    assert leaf_hash({"seq": 2, "actor": "alice"}) != expected


def test_leaf_hash_requires_a_dict():
    with pytest.raises(CanonicalJSONError):
        leaf_hash([1, 2])  # type: ignore[arg-type]
    with pytest.raises(CanonicalJSONError):
        leaf_hash({"when": 1.5})


def test_chain_hash():
    assert GENESIS == b"\x00" * 32
    leaf = leaf_hash({"seq": 0})
    first = chain_hash(GENESIS, leaf)
    assert first == hashlib.sha256(bytes(32) + leaf).digest()
    second = chain_hash(first, leaf_hash({"seq": 1}))
    assert second != first
    assert chain_hash(GENESIS, leaf) == first


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "0" * 32, bytearray(32)])
def test_chain_hash_rejects_wrong_inputs(bad):
    leaf = leaf_hash({"seq": 0})
    with pytest.raises(ValueError):
        chain_hash(bad, leaf)
    with pytest.raises(ValueError):
        chain_hash(GENESIS, bad)
