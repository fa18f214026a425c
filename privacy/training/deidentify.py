"""De-identification of text for the training export: find, validate, replace with pseudonyms.

Every kind is found by a cheap pattern and then validated (phonenumbers, the Luhn check, the
IBAN mod-97 check, ipaddress), so ordinary numbers, amounts, dates, years and version
strings stay. A replacement is a keyed pseudonym such as ``[email:qhvmbxze]``: the same
value gives the same pseudonym within one export (HMAC-SHA256 under the export's key) and
an unrelated one in the next (the key is random per export and discarded). Pseudonyms are
letters only, so no later pass can mistake one for a number.

Passes run in a fixed order: the owner's own names, secrets in URLs, email addresses,
IBANs, card numbers, IP addresses, phone numbers. A text with no digit, no "@" and no
"://" is only searched for the owner's names.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from urllib.parse import parse_qsl, urlsplit

import phonenumbers

# National formats tried for a number without a country code: with a trunk "0" the
# European ones, otherwise North American.
TRUNK_ZERO_REGIONS = ("FR", "DE", "GB")
NO_TRUNK_REGIONS = ("US",)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_DIGIT = re.compile(r"\d")

EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b"
)
URL = re.compile(r"\b(?:https?|ftps?|wss?)://[^\s<>\"'`]+", re.IGNORECASE)
# Query parameters whose values are credentials, whatever else the URL holds.
SECRET_PARAM = re.compile(
    r"^(?:.*[_-])?(?:token|key|secret|password|passwd|pwd|pass|auth|sig|signature|session|"
    r"sessionid|sid|code|credential|credentials|apikey|jwt)$",
    re.IGNORECASE,
)
IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}\b")
# 13-19 digits, optionally grouped by single spaces or dashes.
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)
# A phone-number candidate: "+" or "00" international, or a national number with its trunk
# "0" (FR, DE, UK), or a North American 3-3-4 grouping; validated by phonenumbers.
PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)[1-9]\d{0,2}[\s.\-/]?(?:\(0\)[\s.\-]?)?(?:\(\d{1,4}\)[\s.\-]?)?"
    r"\d(?:[\s.\-/]?\d){5,13}"
    r"|0\d(?:[\s.\-/]?\d){7,11}"
    r"|\(0\d{1,4}\)[\s.\-]?\d(?:[\s.\-/]?\d){4,10}"
    r"|(?:1[\s.\-])?\(?[2-9]\d{2}\)?[\s.\-]?[2-9]\d{2}[\s.\-]\d{4})(?![\w])"
)
DATE_INSIDE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}")
# Userinfo and secret-looking parameters, for URLs urlsplit cannot parse.
USERINFO = re.compile(r"(?<=://)[^/@\s]+(?=@)")
SECRET_VALUE = re.compile(r"(?<=[?&#;])([A-Za-z0-9_.\-]+)=([^&#\s]+)")
VERSION_PREFIX = re.compile(r"(?:\bv|version\s?|release\s?|build\s?)$", re.IGNORECASE)


def luhn_valid(digits: str) -> bool:
    total, double = 0, False
    for char in reversed(digits):
        value = ord(char) - 48
        if double:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
        double = not double
    return total % 10 == 0


def longest_valid_iban(compact: str) -> int:
    """The length of the longest prefix of `compact` that is a valid IBAN (0: none).

    One pass: the mod-97 of the digits after the check digits grows character by
    character, and the moved country code and check digits are added at each length.
    """
    head = "".join(str(int(char, 36)) for char in compact[:4])
    shift, tail = pow(10, len(head), 97), int(head) % 97
    remainder, best = 0, 0
    for index in range(4, min(len(compact), 34)):
        for digit in str(int(compact[index], 36)):
            remainder = (remainder * 10 + ord(digit) - 48) % 97
        if index + 1 >= 15 and (remainder * shift + tail) % 97 == 1:
            best = index + 1
    return best


class Deidentifier:
    """Replaces personal data in text with pseudonyms keyed for one export."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._cache: dict[tuple[str, str], str] = {}
        self._owner_patterns: dict[tuple[str, ...], re.Pattern | None] = {}

    def pseudonym(self, kind: str, value: str) -> str:
        """The stable replacement of `value` within this export, e.g. "[email:qhvmbxze]"."""
        normal = value.strip().lower() if kind in ("email", "name") else value
        cached = self._cache.get((kind, normal))
        if cached is None:
            digest = hmac.new(self._key, f"{kind}\0{normal}".encode(), hashlib.sha256).digest()
            cached = f"[{kind}:" + "".join(_LETTERS[b % 26] for b in digest[:8]) + "]"
            self._cache[(kind, normal)] = cached
        return cached

    def record_id(self, kind: str, value: str) -> str:
        """A 64-bit keyed id for a record (conversations), unlinkable across exports."""
        return hmac.new(self._key, f"id\0{kind}\0{value}".encode(), hashlib.sha256).hexdigest()[:16]

    def _owner_pattern(self, terms: tuple[str, ...]) -> re.Pattern | None:
        if terms not in self._owner_patterns:
            usable = sorted({t for t in terms if len(t) >= 3}, key=len, reverse=True)
            self._owner_patterns[terms] = (
                re.compile(
                    r"(?<!\w)(?:" + "|".join(re.escape(t) for t in usable) + r")(?!\w)",
                    re.IGNORECASE,
                )
                if usable
                else None
            )
        return self._owner_patterns[terms]

    def _owner_term(self, match: re.Match) -> str:
        value = match.group()
        return self.pseudonym("email" if "@" in value else "name", value)

    def clean(self, text: str, owner_terms: tuple[str, ...] = ()) -> str:
        """The text with every recognised personal datum replaced by its pseudonym."""
        # URLs first (their userinfo holds "@"), then emails (so an owner's name inside
        # someone else's address goes with the whole address), then the owner's names.
        if "://" in text:
            text = URL.sub(self._clean_url, text)
        if "@" in text:
            text = EMAIL.sub(lambda m: self.pseudonym("email", m.group()), text)
        if owner_terms:
            pattern = self._owner_pattern(owner_terms)
            if pattern is not None:
                text = pattern.sub(self._owner_term, text)
        if _DIGIT.search(text) is None:
            return text
        text = IBAN.sub(self._iban, text)
        text = CARD.sub(self._card, text)
        if "." in text:
            text = IPV4.sub(self._ipv4, text)
        if ":" in text:
            text = IPV6.sub(self._ipv6, text)
        return PHONE.sub(self._phone, text)

    def _clean_url(self, match: re.Match) -> str:
        url = match.group()
        trail = ""
        while url and url[-1] in ".,;:!?)]}":  # sentence punctuation after a link
            trail, url = url[-1] + trail, url[:-1]
        try:
            parts = urlsplit(url)
        except ValueError:  # not parseable: still take out userinfo and secret values
            url = USERINFO.sub(lambda m: self.pseudonym("credential", m.group()), url)
            return SECRET_VALUE.sub(self._secret_pair, url) + trail
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            netloc = f"{self.pseudonym('credential', userinfo)}@{host}"
        query = parts.query
        if query:
            pairs = []
            for name, value in parse_qsl(query, keep_blank_values=True):
                if value and SECRET_PARAM.match(name):
                    value = self.pseudonym("secret", value)
                pairs.append(f"{name}={value}" if value or "=" in query else name)
            query = "&".join(pairs)
        fragment = parts.fragment
        if fragment and "=" in fragment:  # OAuth implicit flow: #access_token=...
            fragment = "&".join(
                f"{name}={self.pseudonym('secret', value) if SECRET_PARAM.match(name) else value}"
                for name, value in parse_qsl(fragment, keep_blank_values=True)
            )
        rebuilt = f"{parts.scheme}://{netloc}{parts.path}"
        if query:
            rebuilt += "?" + query
        if fragment:
            rebuilt += "#" + fragment
        return rebuilt + trail

    def _secret_pair(self, match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        return (
            f"{name}={self.pseudonym('secret', value)}"
            if SECRET_PARAM.match(name)
            else match.group()
        )

    def _iban(self, match: re.Match) -> str:
        # The pattern is greedy ("DE89 ... 00 BIC COBA..." runs on): the IBAN is the longest
        # checksum-valid prefix, and the rest is kept.
        value = match.group()
        compact = value.replace(" ", "").upper()
        length = longest_valid_iban(compact)
        if not length:
            return value
        end = [i + 1 for i, char in enumerate(value) if char != " "][length - 1]
        return self.pseudonym("iban", compact[:length]) + value[end:]

    def _card(self, match: re.Match) -> str:
        # A run of digit groups may hold a card next to other numbers ("paid 30 4111 ...
        # 1111 123"): try every run of whole groups, longest first.
        value = match.group()
        groups = [(m.start(), m.end()) for m in re.finditer(r"\d+", value)]
        best = None
        for first in range(len(groups)):
            for last in range(len(groups) - 1, first - 1, -1):
                start, end = groups[first][0], groups[last][1]
                digits = re.sub(r"[ -]", "", value[start:end])
                if 13 <= len(digits) <= 19 and luhn_valid(digits):
                    if best is None or end - start > best[1] - best[0]:
                        best = (start, end, digits)
                    break
        if best is None:
            return value
        start, end, digits = best
        return value[:start] + self.pseudonym("card", digits) + value[end:]

    def _ipv4(self, match: re.Match) -> str:
        value = match.group()
        if VERSION_PREFIX.search(match.string, 0, match.start()):
            return value
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return value
        return self.pseudonym("ip", value)

    def _ipv6(self, match: re.Match) -> str:
        value = match.group()
        if value.count(":") < 2:
            return value
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return value
        return self.pseudonym("ip", value)

    def _phone(self, match: re.Match) -> str:
        value = match.group()
        if DATE_INSIDE.search(value):  # "on 01/02/2024 10 people", not a number to call
            return value
        number = _parse_phone(value)
        if number is None:
            return value
        canonical = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return self.pseudonym("phone", canonical)


def _parse_phone(value: str) -> phonenumbers.PhoneNumber | None:
    international = value.startswith(("+", "00"))
    candidate = "+" + value[2:] if value.startswith("00") else value
    if international:
        regions: tuple[str | None, ...] = (None,)
    else:
        regions = TRUNK_ZERO_REGIONS if value.lstrip("(").startswith("0") else NO_TRUNK_REGIONS
    for region in regions:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    return None


def owner_terms(*, display_name: str = "", email: str = "") -> tuple[str, ...]:
    """The owner's own identifiers to replace: full name, its parts, email, username."""
    terms: list[str] = []
    name = " ".join(display_name.split())
    if name:
        terms.append(name)
        terms.extend(part for part in re.split(r"[\s\-]+", name) if len(part) >= 3)
    if email:
        terms.append(email)
        local = email.split("@", 1)[0]
        terms.append(local)
        terms.extend(part for part in re.split(r"[._+\-]+", local) if len(part) >= 3)
    return tuple(dict.fromkeys(terms))
