"""Deterministic JSON encoding and the hash chain over access-log entries.

The encoding is plain JSON with sorted keys, no insignificant whitespace and
UTF-8 output. Only None, bool, int, str, list and dict (with str keys) are
accepted, matched by exact type: floats (including NaN and infinities), tuples,
enums and other subclasses are refused so that every value has exactly one
encoding. Strings are not Unicode-normalised; keys sort by code point.
"""

import hashlib
import json

HASH_SIZE = 32
GENESIS = bytes(HASH_SIZE)  # previous hash of the first entry in the chain

_SCALARS = (type(None), bool, int, str)
_SCALAR_TYPES = frozenset(_SCALARS)
_STR_TYPE = frozenset((str,))
# One encoder for every call: json.dumps with options builds a new one each time.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


class CanonicalJSONError(ValueError):
    """The value cannot be encoded as canonical JSON."""


def _check_types(obj: object) -> None:
    """Walk an acyclic value and refuse anything outside the allowed types."""
    stack = [obj]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is list:
            stack.extend(item)
        elif kind is dict:
            for key, value in item.items():
                if type(key) is not str:
                    raise CanonicalJSONError(f"dict keys must be str, not {type(key).__name__}")
                stack.append(value)
        elif kind is float:
            raise CanonicalJSONError(f"floats are not allowed (got {item!r}); use int or str")
        else:
            raise CanonicalJSONError(f"unsupported type {kind.__name__}")


def canonical_json(obj: object) -> bytes:
    """Encode obj as canonical JSON bytes (sorted keys, compact, UTF-8)."""
    try:
        # Encode first: the encoder refuses cycles, so the type walk below terminates.
        text = _ENCODER.encode(obj)
    except RecursionError as exc:
        raise CanonicalJSONError("value is nested too deeply") from exc
    except (TypeError, ValueError) as exc:
        raise CanonicalJSONError(str(exc)) from exc
    # Exact types, checked with set(map(type, ...)): several times faster than a loop.
    flat = (
        type(obj) is dict
        and set(map(type, obj)) <= _STR_TYPE
        and set(map(type, obj.values())) <= _SCALAR_TYPES
    )
    if not flat:  # a flat dict of scalars (every log entry) needs no walk
        _check_types(obj)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError("strings must not contain lone surrogates") from exc


def leaf_hash(entry_fields: dict) -> bytes:
    """Return SHA-256(0x00 || canonical_json(entry_fields)), the RFC 6962 leaf hash."""
    if type(entry_fields) is not dict:
        raise CanonicalJSONError("entry fields must be a dict")
    return hashlib.sha256(b"\x00" + canonical_json(entry_fields)).digest()


def chain_hash(prev_hash: bytes, leaf: bytes) -> bytes:
    """Return SHA-256(prev_hash || leaf), the next link of the hash chain."""
    for label, value in (("previous hash", prev_hash), ("leaf hash", leaf)):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ValueError(f"{label} must be {HASH_SIZE} bytes")
    return hashlib.sha256(prev_hash + leaf).digest()
