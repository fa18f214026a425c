"""De-identification on a corpus the test generates: every planted value goes, ordinary ones stay.

The corpus plants several formats of every kind inside ordinary sentences, with ordinary
numbers, amounts, dates, years and version strings around them. Unit tests measure the
de-identifier alone; the export tests check the same corpus through the real export.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest

from privacy.training.deidentify import Deidentifier, luhn_valid, owner_terms
from tests.factories import make_conversation, set_plan
from tests.helpers import exported_texts, run_training_export

SENTENCES = (
    "Hi, you can reach me at {} if anything changes before Friday.",
    "My details are {} — please keep them safe.",
    "Could you double-check {} for me? Thanks in advance.",
    "({}) is what the form said, which seems odd.",
)
ORDINARY = (
    "The invoice total was 1,234.56 EUR, paid on 2024-05-01.",
    "In 1998 about 12 500 people attended; in 2023 it was 14,000.",
    "Upgrade to version 3.11.4 (or v2.0.1) and restart after 30 seconds.",
    "Meet at 12:30:45 in room 101; the train leaves at 07:15.",
    "Chapter 7, page 212, line 42: 3 apples cost $4.50.",
    "On 01/02/2024 10 people came; the score was 21-17.",
)


def _cards(rng: random.Random) -> list[str]:
    cards = []
    for prefix in ("4111", "5500", "3400", "6011"):
        length = 15 if prefix == "3400" else 16
        while True:
            body = prefix + "".join(rng.choice("0123456789") for _ in range(length - 5))
            for check in "0123456789":
                if luhn_valid(body + check):
                    number = body + check
                    break
            break
        groups = [number[i : i + 4] for i in range(0, len(number), 4)]
        cards += [number, " ".join(groups), "-".join(groups)]
    return cards


def _ibans() -> list[str]:
    compact = ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606"]
    spaced = [" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) for iban in compact]
    return compact + spaced


def _phones() -> list[str]:
    numbers = []
    for region in ("FR", "DE", "GB", "US"):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            numbers.append(
                phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            )
            numbers.append(
                phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
            )
            numbers.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    numbers += ["06 12 34 56 78", "0049 30 12345678", "+44 (0)20 7946 0958", "212-736-5000"]
    return numbers


PLANTED = {
    "email": [
        "ada.lovelace@example.org",
        "bob+news@mail.example.co.uk",
        "X_Y-9@sub.example.de",
    ],
    "phone": _phones(),
    "card": _cards(random.Random(9)),
    "iban": _ibans(),
    "ip": ["192.168.1.20", "8.8.8.8", "2001:db8::8a2e:370:7334", "fe80::1", "::1"],
    "credential": [
        "https://carol:s3cretPass@example.com/files",
        "ftp://admin:hunter2@files.example.net/",
    ],
    "secret": [
        "https://api.example.com/v1/items?token=tok_8f8a7c6b5d&page=2",
        "https://example.com/cb?api_key=AKIA1234567890&format=json",
        "https://example.com/reset?secret=Zm9vYmFy.&lang=en",
        "https://example.com/#access_token=eyJhbGciOi.J9",
    ],
}
# The part of each planted value that must not survive.
SENSITIVE = {
    "credential": {
        "https://carol:s3cretPass@example.com/files": "s3cretPass",
        "ftp://admin:hunter2@files.example.net/": "hunter2",
    },
    "secret": {
        "https://api.example.com/v1/items?token=tok_8f8a7c6b5d&page=2": "tok_8f8a7c6b5d",
        "https://example.com/cb?api_key=AKIA1234567890&format=json": "AKIA1234567890",
        "https://example.com/reset?secret=Zm9vYmFy.&lang=en": "Zm9vYmFy",
        "https://example.com/#access_token=eyJhbGciOi.J9": "eyJhbGciOi",
    },
}


def corpus() -> list[tuple[str, str, str]]:
    """(kind, planted value, sentence) for every planted value in every sentence frame."""
    return [
        (kind, value, frame.format(value))
        for kind, values in PLANTED.items()
        for value in values
        for frame in SENTENCES
    ]


def _leak(kind: str, value: str) -> str:
    return SENSITIVE.get(kind, {}).get(value, value)


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_every_planted_value_is_replaced_inside_ordinary_sentences(kind):
    scrub = Deidentifier(b"k" * 32)
    for planted_kind, value, sentence in corpus():
        if planted_kind != kind:
            continue
        cleaned = scrub.clean(sentence)
        assert _leak(kind, value) not in cleaned, (sentence, cleaned)
        assert "[" + ("email" if kind == "email" else kind) in cleaned or kind in (
            "credential",
            "secret",
        ), cleaned


def test_ordinary_numbers_amounts_dates_years_and_versions_stay():
    scrub = Deidentifier(b"k" * 32)
    for sentence in ORDINARY:
        assert scrub.clean(sentence) == sentence


def test_urls_keep_their_shape_and_non_secret_parameters():
    scrub = Deidentifier(b"k" * 32)
    cleaned = scrub.clean("See https://api.example.com/v1/items?token=abc123xyz&page=2.")
    assert cleaned.startswith("See https://api.example.com/v1/items?token=[secret:")
    assert cleaned.endswith("&page=2.")


def test_the_owners_own_name_username_and_email_are_replaced():
    scrub = Deidentifier(b"k" * 32)
    terms = owner_terms(display_name="Mira Okonkwo", email="mira.okonkwo@example.net")
    text = "Mira Okonkwo here (mira.okonkwo on the forum, mira.okonkwo@example.net); Okonkwo."
    cleaned = scrub.clean(text, terms)
    for leaked in ("Mira", "Okonkwo", "mira.okonkwo", "example.net"):
        assert leaked not in cleaned, cleaned
    assert "[email:" in cleaned and "[name:" in cleaned


def test_the_same_value_maps_to_one_pseudonym_within_an_export_and_differs_across():
    first, second = Deidentifier(b"a" * 32), Deidentifier(b"b" * 32)
    one = first.clean("write to ada.lovelace@example.org")
    assert one == first.clean("write to Ada.Lovelace@example.org")  # case does not matter
    assert one != second.clean("write to ada.lovelace@example.org")
    assert first.clean("call +33 6 12 34 56 78") == first.clean("call +33612345678")


def test_the_export_carries_no_planted_value_and_is_consistent_within_and_not_across(
    app, factory, tmp_path
):
    owner = factory.make_user(email="mira.okonkwo@example.net")
    set_plan(app, owner, plan="free")
    rows = corpus()
    # Several conversations, each mixing planted and ordinary sentences.
    for start in range(0, len(rows), 12):
        chunk = [sentence for _, _, sentence in rows[start : start + 12]]
        texts = tuple(chunk + list(ORDINARY) + ["Greetings from Mira Okonkwo."])
        make_conversation(app, owner, texts=texts)

    _, records = run_training_export(app, tmp_path / "one")
    text = exported_texts(records)

    for kind, value, _ in rows:
        assert _leak(kind, value) not in text, (kind, value)
    assert "Okonkwo" not in text and "mira.okonkwo" not in text
    for sentence in ORDINARY:
        assert sentence in text
    # Within one export one email is one pseudonym; in the next it is another.
    scrubbed_email = "[email:" + text.split("[email:", 1)[1].split("]", 1)[0] + "]"
    assert text.count(scrubbed_email) >= len(SENTENCES)
    _, again = run_training_export(app, tmp_path / "two")
    assert scrubbed_email not in exported_texts(again)


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("reset at https://smith.example.com/reset?token=abc123XYZ now", "abc123XYZ"),
        ("https://jsmith:s3cr3t!x@example.com is the old login", "s3cr3t"),
        ("pay DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX today", "0532 0130"),
        ("pay DE89370400440532013000 OK?", "0532013000"),
        ("lowercase de89 3704 0044 0532 0130 00 too", "0532 0130"),
        ("card 4111 1111 1111 1111 123 expires", "4111 1111"),
        ("paid 30 4111 1111 1111 1111 yesterday", "4111 1111"),
        ("write to _john.doe@example.com please", "john.doe"),
        ("or smith@other-family.fr", "other-family"),
    ],
)
def test_planted_values_next_to_other_words_and_numbers_still_go(text, leaked):
    terms = owner_terms(display_name="John Smith", email="jsmith@example.com")
    cleaned = Deidentifier(b"k" * 32).clean(text, terms)
    assert leaked not in cleaned, cleaned
    # The ordinary words around the value stay.
    words = [w for w in text.split() if w.isalpha() and w.lower() not in ("smith", "john")]
    assert all(word in cleaned for word in words), cleaned
