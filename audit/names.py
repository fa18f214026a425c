"""How the auditor pages name cases and break-glass grants without importing moderation:
moderation registers its lookups at start-up (the layers allow no other direction)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask, current_app
from sqlmodel import Session


@dataclass(frozen=True)
class Names:
    """Lookups from the case side: reference → internal ids, ids → references, grant ids →
    a line naming the grant (its reason and approver)."""

    case_ids: Callable[[Session, str], list[str]]
    case_refs: Callable[[Session, set[str]], dict[str, str]]
    grants: Callable[[Session, set[str]], dict[str, str]]


_NONE = Names(case_ids=lambda _s, _t: [], case_refs=lambda _s, _i: {}, grants=lambda _s, _i: {})


def register(app: Flask, names: Names) -> None:
    """Install the lookups (moderation's init_app does)."""
    app.extensions["vigil.audit_names"] = names


def names() -> Names:
    """The running app's lookups (none registered: entries show ids as stored)."""
    return current_app.extensions.get("vigil.audit_names", _NONE)


def case_ids(session: Session, text: str) -> list[str]:
    """What a case filter matches: the value as stored, plus the internal id of the case
    whose reference staff see (VC-...), so either finds the same entries."""
    return list(dict.fromkeys([text, *names().case_ids(session, text)]))


def for_rows(session: Session, entries: Iterable) -> dict[str, dict[str, str]]:
    """{"refs": {case_id: ref}, "grants": {grant_id: line}} for the entries on a page."""
    entries = list(entries)
    ids = {e.case_id for e in entries if e.case_id}
    grants = {e.grant_id for e in entries if getattr(e, "grant_id", "")}
    return {
        "refs": names().case_refs(session, ids) if ids else {},
        "grants": names().grants(session, grants) if grants else {},
    }
