"""Tests for audit.notes (C2SP signed notes and checkpoints)."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.tlog.signed_note import (
    Checkpoint,
    NoteError,
    make_checkpoint_body,
    parse_checkpoint_body,
    parse_note,
    parse_verifier_key,
    public_key_id,
    sign_note,
    verifier_key_string,
    verify_note,
)

# Vectors from golang.org/x/mod/sumdb/note (note.go package docs and note_test.go).
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# The example checkpoint from https://c2sp.org/tlog-checkpoint.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)

ROOT = bytes(range(32))


def _peter_private_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])  # PRIVATE+KEY+name+id+key
    assert raw[0] == 0x01
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def _known(*vkeys: str) -> dict:
    known = {}
    for vkey in vkeys:
        name, key_id, public_key = parse_verifier_key(vkey)
        known[(name, key_id)] = public_key
    return known


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# --- Go reference vectors ---------------------------------------------------------------


def test_go_verifier_key_and_key_id():
    name, key_id, public_key = parse_verifier_key(PETER_VKEY)
    assert name == "PeterNeumann"
    assert key_id == bytes.fromhex("c74f20a3")
    assert public_key_id(name, public_key) == key_id
    assert verifier_key_string(name, public_key) == PETER_VKEY
    private = _peter_private_key()
    assert private.public_key().public_bytes_raw() == public_key.public_bytes_raw()
    assert parse_verifier_key(ENOCH_VKEY)[1] == bytes.fromhex("af0cfe78")


def test_go_signed_note_is_reproduced_byte_for_byte():
    assert sign_note(GO_TEXT, "PeterNeumann", _peter_private_key()) == GO_TEXT + "\n" + PETER_SIG


def test_go_notes_verify():
    both = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert verify_note(both, _known(PETER_VKEY)) == GO_TEXT
    assert verify_note(both, _known(ENOCH_VKEY)) == GO_TEXT
    assert verify_note(both, _known(PETER_VKEY, ENOCH_VKEY)) == GO_TEXT
    assert verify_note(both.encode(), _known(PETER_VKEY)) == GO_TEXT
    with pytest.raises(NoteError, match="known key"):
        verify_note(both, {})


def test_go_invalid_signature_rejected():
    bad = GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature"):
        verify_note(bad, _known(PETER_VKEY))


@pytest.mark.parametrize(
    "message",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        GO_TEXT + "\n" + "\u2014 Bad Name " + PETER_SIG.split(" ")[2],
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ],
)
def test_go_malformed_notes(message):
    with pytest.raises(NoteError):
        parse_note(message)
    with pytest.raises(NoteError):
        verify_note(message, _known(PETER_VKEY))


def test_go_invalid_utf8_rejected():
    with pytest.raises(NoteError):
        parse_note(b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode())


def test_go_verifier_key_manglings_rejected():
    # Every proper substring and every single-byte increment must be refused.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    parse_verifier_key(PETER_VKEY[i:j])
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            parse_verifier_key(mangled)
    # Wrong key length and unknown algorithm, each with a matching key hash.
    for vkey in (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(NoteError):
            parse_verifier_key(vkey)


# --- signing and verifying --------------------------------------------------------------


def test_round_trip(key):
    body = make_checkpoint_body("vigil.example/audit", 5, ROOT, ["chain-head " + "A" * 44])
    note = sign_note(body, "vigil.example/audit", key)
    assert note.startswith(body + "\n\u2014 vigil.example/audit ")
    assert note.endswith("\n")
    key_id = public_key_id("vigil.example/audit", key.public_key())
    known = {("vigil.example/audit", key_id): key.public_key()}
    assert verify_note(note, known) == body
    parsed_body, sigs = parse_note(note)
    assert parsed_body == body
    assert len(sigs) == 1
    assert sigs[0].name == "vigil.example/audit"
    assert sigs[0].key_id == key_id
    assert len(sigs[0].signature) == 64


def test_tampered_body_rejected(key):
    note = sign_note(make_checkpoint_body("log", 5, ROOT), "log", key)
    known = _known(verifier_key_string("log", key.public_key()))
    tampered = note.replace("\n5\n", "\n6\n", 1)
    assert tampered != note
    with pytest.raises(NoteError, match="invalid signature"):
        verify_note(tampered, known)


def test_tampered_signature_rejected(key):
    note = sign_note("hello\n", "log", key)
    body, sigs = parse_note(note)
    sig = sigs[0]
    flipped = bytes([sig.signature[0] ^ 1]) + sig.signature[1:]
    line = "\u2014 log " + base64.b64encode(sig.key_id + flipped).decode() + "\n"
    with pytest.raises(NoteError, match="invalid signature"):
        verify_note(body + "\n" + line, _known(verifier_key_string("log", key.public_key())))


def test_unknown_key_rejected(key):
    note = sign_note("hello\n", "log", key)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(NoteError, match="known key"):
        verify_note(note, _known(verifier_key_string("log", other)))


def test_wrong_key_id_rejected(key):
    note = sign_note("hello\n", "log", key)
    body, sigs = parse_note(note)
    real_id = sigs[0].key_id
    wrong_id = bytes([real_id[0] ^ 0xFF]) + real_id[1:]
    # The right key registered under a different key ID does not count.
    with pytest.raises(NoteError, match="known key"):
        verify_note(note, {("log", wrong_id): key.public_key()})
    # A signature line carrying a different key ID does not match the known key.
    line = "\u2014 log " + base64.b64encode(wrong_id + sigs[0].signature).decode() + "\n"
    with pytest.raises(NoteError, match="known key"):
        verify_note(body + "\n" + line, {("log", real_id): key.public_key()})


def test_same_key_id_different_name_is_unknown(key):
    note = sign_note("hello\n", "log", key)
    key_id = public_key_id("log", key.public_key())
    with pytest.raises(NoteError, match="known key"):
        verify_note(note, {("other-log", key_id): key.public_key()})


def test_bad_signature_from_known_key_rejects_whole_note(key):
    witness = Ed25519PrivateKey.generate()
    note = sign_note("hello\n", "log", key)
    forged = sign_note("goodbye\n", "witness", witness).split("\n\n", 1)[1]
    known = _known(
        verifier_key_string("log", key.public_key()),
        verifier_key_string("witness", witness.public_key()),
    )
    with pytest.raises(NoteError, match="invalid signature for key witness"):
        verify_note(note + forged, known)


def test_multiple_signatures_and_blank_lines_in_body(key):
    body = "first\n\nafter a blank line\n"
    witness = Ed25519PrivateKey.generate()
    note = sign_note(body, "log", key)
    extra = sign_note(body, "witness", witness).split("\n\n")[-1]
    cosigned = note + extra
    assert (
        verify_note(cosigned, _known(verifier_key_string("witness", witness.public_key()))) == body
    )
    assert [s.name for s in parse_note(cosigned)[1]] == ["log", "witness"]


def test_spec_example_notes_parse():
    body, sigs = parse_note(SPEC_CHECKPOINT)
    assert body == SPEC_CHECKPOINT.split("\n\n")[0] + "\n"
    assert len(sigs) == 1
    assert sigs[0].name == "example.com/behind-the-sofa"
    assert sigs[0].key_id == base64.b64decode(SPEC_CHECKPOINT.split(" ")[-1])[:4]
    assert len(sigs[0].signature) == 64


@pytest.mark.parametrize(
    "message",
    [
        "",
        "\n",
        "hello\n",
        "hello\n\n",
        "hello\n\n\n",
        "hello\n\n\u2014 log AAAAAA==\n",  # fewer than 5 signature bytes
        "hello\n\n\u2014 log AAAAAAAA",  # no final newline
        "hello\n\n- log AAAAAAAAAAAA\n",  # hyphen instead of em dash
        "hello\n\n\u2014log AAAAAAAAAAAA\n",  # no space after the dash
        "hello\n\n\u2014  AAAAAAAAAAAA\n",  # empty key name
        "hello\n\n\u2014 log+1 AAAAAAAAAAAA\n",  # plus in key name
        "hello\n\n\u2014 log\n",  # no signature
        "hello\n\n\u2014 log \n",  # empty signature
        "hello\n\n\u2014 log !!!!!!!!!!!!\n",  # not base64
        "hello\n\n\u2014 log AAAAAAAAAAB=\n",  # non-canonical base64 padding bits
        "hello\n\n\u2014 log AAAAAAAAAAAA AAAA\n",  # trailing field
        "hel\tlo\n\n\u2014 log AAAAAAAAAAAA\n",  # control character in text
        "hello\r\n\n\u2014 log AAAAAAAAAAAA\n",  # carriage return
        "hello\n\n\u2014 log AAAAAAAAAAAA\n\n",  # blank line after signatures
        "hello\n\n\u2014 log \ud800AAAAAAAAAAA\n",  # lone surrogate
    ],
)
def test_malformed_notes_rejected(message):
    with pytest.raises(NoteError):
        parse_note(message)


def test_too_many_signatures_rejected():
    with pytest.raises(NoteError):
        parse_note(GO_TEXT + "\n" + PETER_SIG * 101)
    _, sigs = parse_note(GO_TEXT + "\n" + PETER_SIG * 16)
    assert len(sigs) == 16


@pytest.mark.parametrize("body", ["", "no newline", "tab\there\n", "cr\r\n"])
def test_sign_note_rejects_bad_text(key, body):
    with pytest.raises(NoteError):
        sign_note(body, "log", key)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\nb", "a\u2003b"])
def test_bad_key_names_rejected(key, name):
    with pytest.raises(NoteError):
        sign_note("hello\n", name, key)
    with pytest.raises(NoteError):
        public_key_id(name, key.public_key())


# --- checkpoints ------------------------------------------------------------------------


def test_checkpoint_body_format():
    body = make_checkpoint_body("vigil.example/audit", 42, ROOT, ["chain-head abc"])
    root64 = base64.b64encode(ROOT).decode()
    assert body == f"vigil.example/audit\n42\n{root64}\nchain-head abc\n"
    assert make_checkpoint_body("o", 0, ROOT) == f"o\n0\n{root64}\n"


def test_checkpoint_round_trip():
    body = make_checkpoint_body("vigil.example/audit", 2**64 - 1, ROOT, ["a", "b c"])
    assert parse_checkpoint_body(body) == Checkpoint(
        "vigil.example/audit", 2**64 - 1, ROOT, ("a", "b c")
    )


def test_spec_checkpoint_parses():
    body, _ = parse_note(SPEC_CHECKPOINT)
    checkpoint = parse_checkpoint_body(body)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()


R64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "body",
    [
        f"o\n1\n{R64}",  # no final newline
        "o\n1\n",  # no root
        f"\n1\n{R64}\n",  # empty origin
        f"o\n01\n{R64}\n",  # leading zero
        f"o\n-1\n{R64}\n",
        f"o\n+1\n{R64}\n",
        f"o\n 1\n{R64}\n",
        f"o\n\u0661\n{R64}\n",  # non-ASCII digit
        f"o\n18446744073709551616\n{R64}\n",  # 2**64
        f"o\n1\n{R64[:-4]}\n",  # short root
        f"o\n1\n{base64.b64encode(bytes(33)).decode()}\n",  # long root
        f"o\n1\n{R64.rstrip('=')}\n",  # unpadded base64
        f"o\n1\n{R64}\n\n",  # empty extension line
        f"o\n1\n{R64}\next\n\n",
        f"o\n1\n{R64}\r\n",
    ],
)
def test_bad_checkpoint_bodies_rejected(body):
    with pytest.raises(NoteError):
        parse_checkpoint_body(body)


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, []),
        ("a\nb", 1, ROOT, []),
        ("o", -1, ROOT, []),
        ("o", 2**64, ROOT, []),
        ("o", True, ROOT, []),
        ("o", 1, ROOT[:31], []),
        ("o", 1, ROOT, [""]),
        ("o", 1, ROOT, ["two\nlines"]),
        ("o", 1, ROOT, ["tab\there"]),
    ],
)
def test_make_checkpoint_body_validates(origin, size, root, extensions):
    with pytest.raises(NoteError):
        make_checkpoint_body(origin, size, root, extensions)
