"""The one door to training data: a de-identified, resumable, reproducible export.

What leaves: JSON Lines shards and a manifest (export id, time, counts included and
excluded by reason, the consent snapshot, the exclusion-list version, each shard's
SHA-256). What decides: the owner's plan and choice as they stood when the export started
(a snapshot taken in one read), the feedback rule, and the exclusion list, which is read
again for every shard, so a conversation reported while the export runs is still left out.

It reads only user-side tables (conversation, message, owner_privacy, consent_change,
feedback, training_exclusion, and three columns of "user"), so it runs under a database
role that may read nothing else; it writes nothing to the database.

A crash leaves `export-state.json` in the output directory: running the same command again
resumes after the last finished shard with the same key and snapshot, so no record is
written twice. On success the state file, and with it the pseudonym key, is deleted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.orm import Session

from access_control.models import User
from core.sealed_text import is_withheld, open_for_row
from core.timeutil import utcnow
from privacy.consent import FEEDBACK_OVERRIDE, may_train
from privacy.conversations import ZERO_RETENTION
from privacy.models import (
    ConsentChange,
    Conversation,
    Feedback,
    Message,
    OwnerPrivacy,
    Plan,
    Role,
    TrainingExclusion,
)
from privacy.training.deidentify import Deidentifier, owner_terms


class ExportError(RuntimeError):
    """The export cannot start or resume as asked."""


# What the export reads, and nothing more: the grants of its own database role.
TABLES = ("conversation", "message", "owner_privacy", "consent_change", "feedback")
EXCLUSION_TABLE = "training_exclusion"
USER_COLUMNS = ("id", "email", "display_name")  # for the owner's own names; no hashes, no TOTP


def grant_statements(role: str) -> list[str]:
    """The SQL that gives `role` exactly what the export reads (PostgreSQL)."""
    if not role.replace("_", "").isalnum():
        raise ExportError("a role name is letters, digits and underscores")
    return [
        f"GRANT USAGE ON SCHEMA public TO {role};",
        f"GRANT SELECT ON {', '.join((*TABLES, EXCLUSION_TABLE))} TO {role};",
        f'GRANT SELECT ({", ".join(USER_COLUMNS)}) ON "user" TO {role};',
    ]


STATE_FILE = "export-state.json"
MANIFEST_FILE = "manifest.json"
FORMAT = "vigil-training-export/1"


class Reason:
    """Why a conversation was left out (counted in the manifest)."""

    DELETED = "deleted"
    ZERO_RETENTION = "zero_retention"
    MODERATION = "excluded_by_moderation"
    UNKNOWN_PLAN = "unknown_plan"
    NEVER_TRAINED = "plan_never_trained"
    OPTED_OUT = "opted_out"


@dataclass(frozen=True)
class ExportOptions:
    out_dir: Path
    shard_size: int = 2000
    feedback_overrides_opt_out: bool = True


def _atomic_write(path: Path, data: str, mode: int = 0o644) -> None:
    temporary = path.with_name(path.name + ".tmp")
    if temporary.exists():
        temporary.unlink()
    # Created with its final mode: the state file holds the key and is never world-readable.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _owner_key(owner_id: int | None, owner_ref: str) -> str | None:
    if owner_id is not None:
        return f"user:{owner_id}"
    return f"ref:{owner_ref}" if owner_ref else None


def _snapshot(session: Session) -> tuple[dict[str, list], int]:
    """Every owner's (plan, opted out), and the last consent change it reflects."""
    rows = session.execute(
        select(
            OwnerPrivacy.user_id,
            OwnerPrivacy.owner_ref,
            OwnerPrivacy.plan,
            OwnerPrivacy.training_opt_out,
            OwnerPrivacy.feedback_disclosure,
        )
    )
    owners = {}
    for user_id, owner_ref, plan, opted_out, disclosure in rows:
        key = _owner_key(user_id, owner_ref or "")
        if key is not None:
            owners[key] = [plan.value if plan else None, bool(opted_out), disclosure]
    last_change = session.execute(select(func.max(ConsentChange.id))).scalar() or 0
    return owners, last_change


def _exclusion_version(session: Session) -> dict:
    rows = session.execute(
        select(TrainingExclusion.conversation_id, TrainingExclusion.reason).order_by(
            TrainingExclusion.conversation_id, TrainingExclusion.reason
        )
    ).all()
    digest = hashlib.sha256("".join(f"{cid}:{reason}\n" for cid, reason in rows).encode())
    return {"entries": len(rows), "sha256": digest.hexdigest()}


def _snapshot_summary(owners: dict[str, list], last_change: int, taken_at: str) -> dict:
    by_state = Counter(
        f"{plan or 'unknown'}:{'opted_out' if opted_out else 'default'}"
        for plan, opted_out, _disclosure in owners.values()
    )
    canonical = json.dumps(owners, sort_keys=True, separators=(",", ":")).encode()
    return {
        "taken_at": taken_at,
        "through_consent_change": last_change,
        "owners": len(owners),
        "owners_by_plan_and_choice": dict(sorted(by_state.items())),
        "sha256": hashlib.sha256(canonical).hexdigest(),
    }


def _new_state(engine: Engine, options: ExportOptions) -> dict:
    with Session(engine) as session, session.begin():
        if engine.dialect.name == "postgresql":  # one consistent view for all three reads
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        owners, last_change = _snapshot(session)
        exclusions = _exclusion_version(session)
        max_id = session.execute(select(func.max(Conversation.id))).scalar() or 0
    started = utcnow().isoformat()
    return {
        "format": FORMAT,
        "export_id": uuid.uuid4().hex,
        "started_at": started,
        "key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "max_conversation_id": max_id,
        "feedback_overrides_opt_out": options.feedback_overrides_opt_out,
        "consent": owners,
        "consent_summary": _snapshot_summary(owners, last_change, started),
        "exclusion_list": exclusions,
        "cursor": 0,
        "shards": [],
        "counts": {},
    }


def _load_or_start(engine: Engine, options: ExportOptions) -> tuple[dict, bool]:
    options.out_dir.mkdir(parents=True, exist_ok=True)
    state_path = options.out_dir / STATE_FILE
    if state_path.exists():
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state.get("format") != FORMAT:
            raise ExportError(f"{state_path} is not a Vigil export state file")
        return state, True
    if (options.out_dir / MANIFEST_FILE).exists():
        raise ExportError(f"{options.out_dir} already holds a finished export; use a new --out")
    if any(options.out_dir.glob("shard-*.jsonl")):
        raise ExportError(f"{options.out_dir} holds shards of an unknown export; use a new --out")
    state = _new_state(engine, options)
    _save_state(state_path, state)
    return state, False


def _save_state(path: Path, state: dict) -> None:
    _atomic_write(path, json.dumps(state), mode=0o600)  # it holds the pseudonym key


def _candidate_ids(session: Session, cursor: int, max_id: int, limit: int) -> list[int]:
    query = (
        select(Conversation.id)
        .where(Conversation.id > cursor, Conversation.id <= max_id)
        .order_by(Conversation.id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


UNKNOWN = (None, False, "")  # an owner without a row: plan unknown, never exported


class ShardBuilder:
    """Turns one id range of conversations into de-identified JSON Lines records."""

    def __init__(self, state: dict) -> None:
        self.consent = state["consent"]
        self.overrides = state["feedback_overrides_opt_out"]
        self.deidentifier = Deidentifier(base64.b64decode(state["key"]))

    def pseudonym(self, conversation_id: int) -> str:
        return self.deidentifier.record_id("conversation", str(conversation_id))

    def decide(self, row, excluded: set[int]) -> tuple[str | None, bool]:
        """(reason to leave it out or None, whether its feedback may still go)."""
        if row.deleted_at is not None:
            return Reason.DELETED, False
        if row.product in ZERO_RETENTION:
            return Reason.ZERO_RETENTION, False
        if row.id in excluded:
            return Reason.MODERATION, False
        key = _owner_key(row.owner_id, row.owner_ref)
        plan, opted_out, disclosure = self.consent.get(key, UNKNOWN) if key else UNKNOWN
        if plan is None:
            return Reason.UNKNOWN_PLAN, False
        if may_train(Plan(plan), opted_out):
            return None, True
        if opted_out and may_train(Plan(plan), False):
            # A plan that trains by default, opted out: only rated exchanges, if the rule
            # says so and the owner was told so before rating.
            return Reason.OPTED_OUT, self.overrides and disclosure == FEEDBACK_OVERRIDE
        return Reason.NEVER_TRAINED, False

    def build(self, session: Session, lo: int, hi: int) -> tuple[list[str], Counter]:
        in_range = and_(Conversation.id > lo, Conversation.id <= hi)
        rows = session.execute(
            select(
                Conversation.id,
                Conversation.owner_id,
                Conversation.owner_ref,
                Conversation.model_id,
                Conversation.product,
                Conversation.language,
                Conversation.deleted_at,
            )
            .where(in_range)
            .order_by(Conversation.id)
        ).all()
        excluded = set(
            session.execute(
                select(TrainingExclusion.conversation_id).where(
                    TrainingExclusion.conversation_id > lo, TrainingExclusion.conversation_id <= hi
                )
            ).scalars()
        )
        counts: Counter = Counter()
        whole: dict[int, object] = {}
        feedback_only: dict[int, object] = {}
        for row in rows:
            reason, feedback_ok = self.decide(row, excluded)
            if reason is None:
                whole[row.id] = row
            else:
                counts[f"excluded:{reason}"] += 1
                if feedback_ok:
                    feedback_only[row.id] = row
        wanted = set(whole) | set(feedback_only)
        if not wanted:
            return [], counts
        dialect = session.get_bind().dialect
        withheld: set[int] = set()  # a value failed its integrity check: not exported

        def opened(table: str, column: str, row_id: int, cid: int, stored: str) -> str:
            value = open_for_row(dialect, table, column, row_id, stored)
            if is_withheld(value):
                withheld.add(cid)
            return value

        feedback = defaultdict(dict)
        for fid, cid, message_id, rating, comment in session.execute(
            select(
                Feedback.id,
                Feedback.conversation_id,
                Feedback.message_external_id,
                Feedback.rating,
                Feedback.comment,
            ).where(Feedback.conversation_id > lo, Feedback.conversation_id <= hi)
        ):
            if cid in wanted:
                comment = opened("feedback", "comment", fid, cid, comment)
                feedback[cid][message_id] = (rating.value, comment)
        for cid in list(feedback_only):
            if cid not in feedback:
                del feedback_only[cid]
        wanted = set(whole) | set(feedback_only)
        owners = {row.owner_id for row in [*whole.values(), *feedback_only.values()]}
        owners.discard(None)
        terms = {}
        if owners:
            for uid, email, name in session.execute(
                select(User.id, User.email, User.display_name).where(User.id.in_(owners))
            ):
                terms[uid] = owner_terms(display_name=name, email=email)
        messages = defaultdict(list)
        for mid, cid, external_id, role, text in session.execute(
            select(
                Message.id, Message.conversation_id, Message.external_id, Message.role, Message.text
            )
            .where(Message.conversation_id > lo, Message.conversation_id <= hi)
            .order_by(Message.conversation_id, Message.position)
        ):
            if cid in wanted:
                messages[cid].append((external_id, role, opened("message", "text", mid, cid, text)))
        if withheld:
            counts["excluded:withheld"] += len(withheld)
        lines = []
        clean = self.deidentifier.clean
        for cid in sorted(wanted - withheld):
            row = whole.get(cid) or feedback_only[cid]
            own = terms.get(row.owner_id, ())
            if cid in whole:
                lines.append(self._conversation(row, messages[cid], feedback[cid], own, clean))
                counts["included:conversations"] += 1
            else:
                items = self._feedback_items(row, messages[cid], feedback[cid], own, clean)
                lines.extend(items)
                counts["included:feedback_items"] += len(items)
        return lines, counts

    def _conversation(self, row, messages, ratings, own, clean) -> str:
        record = {
            "type": "conversation",
            "id": self.pseudonym(row.id),
            "model_id": row.model_id,
            "product": row.product.value,
            "language": row.language,
            "messages": [],
        }
        for external_id, role, text in messages:
            message = {"role": role.value, "text": clean(text, own)}
            if external_id in ratings:
                rating, comment = ratings[external_id]
                message["feedback"] = {"rating": rating, "comment": clean(comment, own)}
            record["messages"].append(message)
        return json.dumps(record, ensure_ascii=False)

    def _feedback_items(self, row, messages, ratings, own, clean) -> list[str]:
        items = []
        for index, (external_id, role, text) in enumerate(messages):
            if external_id not in ratings or role != Role.ASSISTANT:
                continue
            prompt = next((m[2] for m in reversed(messages[:index]) if m[1] == Role.USER), None)
            rating, comment = ratings[external_id]
            record = {
                "type": "feedback",
                "conversation": self.pseudonym(row.id),
                "model_id": row.model_id,
                "rating": rating,
                "comment": clean(comment, own),
                "input": clean(prompt, own) if prompt is not None else None,
                "output": clean(text, own),
            }
            items.append(json.dumps(record, ensure_ascii=False))
        return items


def _write_shard(path: Path, lines: list[str]) -> str:
    digest = hashlib.sha256()
    temporary = path.with_name(path.name + ".part")
    with open(temporary, "wb") as handle:
        for line in lines:
            data = (line + "\n").encode()
            digest.update(data)
            handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return digest.hexdigest()


def run_export(
    engine: Engine,
    options: ExportOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Run (or resume) an export into options.out_dir; returns the manifest."""
    state, resumed = _load_or_start(engine, options)
    builder = ShardBuilder(state)
    state_path = options.out_dir / STATE_FILE
    with Session(engine) as session:
        total = session.execute(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.id <= state["max_conversation_id"])
        ).scalar()
        done = session.execute(
            select(func.count()).select_from(Conversation).where(Conversation.id <= state["cursor"])
        ).scalar()
        if progress:
            progress(done, total)
        while True:
            ids = _candidate_ids(
                session, state["cursor"], state["max_conversation_id"], options.shard_size
            )
            if not ids:
                break
            lo, hi = state["cursor"], ids[-1]
            session.rollback()  # each shard reads in a transaction of its own...
            if engine.dialect.name == "postgresql":  # ...that sees one moment (exclusions too)
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            lines, counts = builder.build(session, lo, hi)
            session.rollback()
            if lines:
                name = f"shard-{len(state['shards']) + 1:05d}.jsonl"
                sha = _write_shard(options.out_dir / name, lines)
                state["shards"].append({"file": name, "records": len(lines), "sha256": sha})
            merged = Counter(state["counts"])
            merged.update(counts)
            state["counts"], state["cursor"] = dict(merged), hi
            _save_state(state_path, state)
            if progress:
                progress(len(ids), total)
    manifest = _manifest(state, resumed)
    _atomic_write(options.out_dir / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    state_path.unlink()  # the pseudonym key goes with it
    return manifest


def _manifest(state: dict, resumed: bool) -> dict:
    counts = state["counts"]
    included = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("included:")}
    excluded = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("excluded:")}
    return {
        "format": FORMAT,
        "export_id": state["export_id"],
        "started_at": state["started_at"],
        "finished_at": utcnow().isoformat(),
        "resumed": resumed,
        "conversations_considered": sum(excluded.values()) + included.get("conversations", 0),
        "included": {
            "conversations": included.get("conversations", 0),
            "feedback_items": included.get("feedback_items", 0),
        },
        "excluded": dict(sorted(excluded.items())),
        "feedback_overrides_opt_out": state["feedback_overrides_opt_out"],
        "consent_snapshot": state["consent_summary"],
        "exclusion_list": state["exclusion_list"],
        "deidentification": {
            "kinds": ["email", "phone", "card", "iban", "ip", "credential", "secret", "name"],
            "pseudonyms": "HMAC-SHA256 under a random per-export key, discarded at the end",
        },
        "shards": state["shards"],
    }
