"""Sealed evidence: envelope encryption round trips, binding, tamper detection, rotation."""

from __future__ import annotations

import base64
import hashlib

import pytest

from moderation.intake.sealing import (
    MasterKey,
    SealError,
    case_context,
    content_hash,
    evidence_aad,
    key_id_for,
    keyring,
    new_data_key,
    open_sealed,
    rewrap,
    seal,
    unwrap,
    wrap,
)

EVIDENCE = b"user 4711 wrote: meet me after school, don't tell your parents. " * 4


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.from_key(bytes(range(32)))


@pytest.fixture
def keys(master: MasterKey) -> dict[str, MasterKey]:
    return keyring(master)


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- keys and tokens --------------------------------------------------------------------


def test_key_id_is_sha256_prefix_or_configured() -> None:
    key = bytes(range(32))
    assert key_id_for(key) == hashlib.sha256(key).hexdigest()[:8]
    assert MasterKey.from_key(key).key_id == key_id_for(key)
    assert MasterKey.from_key(key, "prod-2025").key_id == "prod-2025"


@pytest.mark.parametrize(
    ("key_id", "key"), [("ok", b"short"), ("has.dot", bytes(32)), ("", bytes(32))]
)
def test_master_key_rejects_bad_keys_and_ids(key_id: str, key: bytes) -> None:
    with pytest.raises(ValueError):
        MasterKey(key_id, key)


def test_master_key_repr_hides_the_key() -> None:
    key = b"K" * 32
    assert "KKKK" not in repr(MasterKey.from_key(key))


def test_keyring_refuses_two_keys_under_one_id() -> None:
    with pytest.raises(ValueError):
        keyring(MasterKey("same", b"a" * 32), MasterKey("same", b"b" * 32))


def test_new_data_keys_are_32_random_bytes() -> None:
    first, second = new_data_key(), new_data_key()
    assert len(first) == len(second) == 32
    assert first != second


def test_wrap_round_trip_and_token_shape(master: MasterKey, keys) -> None:
    data_key = new_data_key()
    token = wrap(master, data_key, context=case_context(17))
    assert token.isascii()
    version, key_id, nonce, wrapped = token.split(".")
    assert (version, key_id) == ("v1", master.key_id)
    assert len(_b64(nonce)) == 12
    assert data_key not in _b64(wrapped)
    assert unwrap(keys, token, context=case_context(17)) == data_key


def test_two_wraps_of_the_same_key_differ(master: MasterKey) -> None:
    data_key = new_data_key()
    assert wrap(master, data_key, context=b"c") != wrap(master, data_key, context=b"c")


def test_unwrap_with_the_wrong_context_fails(master: MasterKey, keys) -> None:
    token = wrap(master, new_data_key(), context=case_context(17))
    with pytest.raises(SealError):
        unwrap(keys, token, context=case_context(18))


def test_unwrap_with_an_unknown_key_id_fails(master: MasterKey) -> None:
    token = wrap(master, new_data_key(), context=b"c")
    with pytest.raises(SealError, match="unknown master key id"):
        unwrap({}, token, context=b"c")
    other = MasterKey.from_key(b"o" * 32)
    with pytest.raises(SealError, match="unknown master key id"):
        unwrap(keyring(other), token, context=b"c")


def test_unwrap_with_a_different_key_under_the_same_id_fails(master: MasterKey) -> None:
    token = wrap(master, new_data_key(), context=b"c")
    impostor = MasterKey(master.key_id, b"i" * 32)
    with pytest.raises(SealError):
        unwrap(keyring(impostor), token, context=b"c")


def test_any_edit_to_a_token_fails(master: MasterKey, keys) -> None:
    token = wrap(master, new_data_key(), context=b"c")
    for i, char in enumerate(token):
        for replacement in {"A", "_", "."} - {char}:
            tampered = token[:i] + replacement + token[i + 1 :]
            with pytest.raises(SealError):
                unwrap(keys, tampered, context=b"c")
    for broken in (token[:-1], token + "A", "", "v2" + token[2:], token.replace(".", "", 1)):
        with pytest.raises(SealError):
            unwrap(keys, broken, context=b"c")


# --- sealed blobs -----------------------------------------------------------------------


def test_seal_round_trip() -> None:
    data_key = new_data_key()
    blob = seal(data_key, EVIDENCE, aad=evidence_aad(17, 1))
    assert open_sealed(data_key, blob, aad=evidence_aad(17, 1)) == EVIDENCE
    assert open_sealed(data_key, seal(data_key, b"", aad=b"x"), aad=b"x") == b""


def test_ciphertext_does_not_contain_the_plaintext() -> None:
    blob = seal(new_data_key(), EVIDENCE, aad=b"x")
    assert EVIDENCE not in blob
    assert b"meet me after school" not in blob
    assert len(blob) == 12 + len(EVIDENCE) + 16


def test_two_seals_of_the_same_text_differ() -> None:
    data_key = new_data_key()
    first = seal(data_key, EVIDENCE, aad=b"x")
    second = seal(data_key, EVIDENCE, aad=b"x")
    assert first != second
    assert first[:12] != second[:12]


def test_tampering_with_any_byte_fails() -> None:
    data_key = new_data_key()
    blob = seal(data_key, b"short evidence", aad=b"x")
    for i in range(len(blob)):
        for mask in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[i] ^= mask
            with pytest.raises(SealError):
                open_sealed(data_key, bytes(tampered), aad=b"x")
    for broken in (blob[:-1], blob + b"\x00", blob[:27], b""):
        with pytest.raises(SealError):
            open_sealed(data_key, broken, aad=b"x")


def test_wrong_aad_fails() -> None:
    data_key = new_data_key()
    blob = seal(data_key, EVIDENCE, aad=evidence_aad(17, 1))
    for wrong in (evidence_aad(17, 2), evidence_aad(18, 1), evidence_aad(1, 71), b""):
        with pytest.raises(SealError):
            open_sealed(data_key, blob, aad=wrong)


def test_wrong_data_key_fails() -> None:
    blob = seal(new_data_key(), EVIDENCE, aad=b"x")
    with pytest.raises(SealError):
        open_sealed(new_data_key(), blob, aad=b"x")


def test_blobs_cannot_be_swapped_between_cases(master: MasterKey, keys) -> None:
    tokens, blobs = {}, {}
    for case in (1, 2):
        data_key = new_data_key()
        tokens[case] = wrap(master, data_key, context=case_context(case))
        blobs[case] = seal(data_key, b"evidence of case %d" % case, aad=evidence_aad(case, 1))
    # Case 2's row now points at case 1's blob and wrapped key: neither opens as case 2.
    with pytest.raises(SealError):
        unwrap(keys, tokens[1], context=case_context(2))
    key_2 = unwrap(keys, tokens[2], context=case_context(2))
    with pytest.raises(SealError):
        open_sealed(key_2, blobs[1], aad=evidence_aad(2, 1))


def test_aad_helpers_are_unambiguous() -> None:
    assert evidence_aad("1", 23) != evidence_aad("12", 3)
    assert evidence_aad(5, 1) == evidence_aad("5", 1)
    assert case_context(5) != evidence_aad(5, 0)
    with pytest.raises(ValueError):
        evidence_aad(5, -1)


def test_a_data_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        seal(b"short", EVIDENCE, aad=b"x")
    with pytest.raises(ValueError):
        wrap(MasterKey.from_key(bytes(32)), b"short", context=b"c")


# --- rotation ---------------------------------------------------------------------------


def test_rewrap_moves_to_the_new_master_and_the_old_one_is_no_longer_needed(
    master: MasterKey, keys
) -> None:
    data_key = new_data_key()
    context = case_context(17)
    old_token = wrap(master, data_key, context=context)
    blob = seal(data_key, EVIDENCE, aad=evidence_aad(17, 1))

    new_master = MasterKey.from_key(b"n" * 32)
    new_token = rewrap(keys, new_master, old_token, context=context)
    assert new_token.split(".")[1] == new_master.key_id != master.key_id

    only_new = keyring(new_master)
    recovered = unwrap(only_new, new_token, context=context)
    assert recovered == data_key
    # Blobs are untouched by rotation: the data key did not change.
    assert open_sealed(recovered, blob, aad=evidence_aad(17, 1)) == EVIDENCE
    with pytest.raises(SealError):
        unwrap(only_new, old_token, context=context)


def test_rewrap_checks_the_context(master: MasterKey, keys) -> None:
    token = wrap(master, new_data_key(), context=case_context(17))
    with pytest.raises(SealError):
        rewrap(keys, MasterKey.from_key(b"n" * 32), token, context=case_context(18))


# --- fingerprints -----------------------------------------------------------------------


def test_content_hash() -> None:
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert content_hash(b"") == "sha256:" + empty
    assert content_hash(EVIDENCE) == "sha256:" + hashlib.sha256(EVIDENCE).hexdigest()
