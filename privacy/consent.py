"""Plans and the training choice: the rules, one place, and every change kept in a history.

The rules follow the published controls of a large chat service, with one fix a regulator
asked for: opting out is free and available on every plan (GDPR Art. 12(5), Art. 21).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import EllipsisType

from sqlmodel import Session, col, select

from core.db import dialect_insert
from core.timeutil import utcnow
from privacy.models import ConsentChange, ConsentSource, OwnerPrivacy, Plan

# Used for training unless the owner opts out.
TRAINED_BY_DEFAULT = frozenset({Plan.FREE, Plan.PRO, Plan.STUDENT, Plan.API_EXPERIMENT})
# Never used, and no way to opt in.
NEVER_TRAINED = frozenset({Plan.TEAM, Plan.ENTERPRISE, Plan.API_SCALE})
# An import-time check that the two sets name every plan (python -O skips only the check).
assert set(Plan) == TRAINED_BY_DEFAULT | NEVER_TRAINED  # nosec B101

# The two feedback disclosures an owner can have been shown (see privacy.feedback).
FEEDBACK_OVERRIDE = "override"  # "...may be used even if you opted out"
FEEDBACK_OPT_OUT_WINS = "opt_out_wins"  # "...unless you opted out"


def feedback_disclosure_kind(overrides_opt_out: bool) -> str:
    return FEEDBACK_OVERRIDE if overrides_opt_out else FEEDBACK_OPT_OUT_WINS


PLAN_LABELS = {
    Plan.FREE: "Free",
    Plan.PRO: "Pro",
    Plan.STUDENT: "Student",
    Plan.TEAM: "Team",
    Plan.ENTERPRISE: "Enterprise",
    Plan.API_EXPERIMENT: "API (experiment)",
    Plan.API_SCALE: "API (scale)",
}


class ConsentError(ValueError):
    """A change the rules do not allow; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Owner:
    """Whose choice it is: a Vigil account, or the chat backend's pseudonymous owner id."""

    user_id: int | None = None
    owner_ref: str | None = None

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.owner_ref is None):
            raise ValueError("an owner is exactly one of a user id or an owner ref")

    def where(self, model):
        if self.user_id is not None:
            return model.user_id == self.user_id
        return model.owner_ref == self.owner_ref


def may_train(plan: Plan | None, opted_out: bool) -> bool:
    """Whether an owner's conversations may be exported for training (unknown plan: never)."""
    return plan in TRAINED_BY_DEFAULT and not opted_out


def may_opt_in(plan: Plan | None) -> bool:
    """Plans that are never trained cannot opt in (an unknown plan may: it stays unused)."""
    return plan not in NEVER_TRAINED


def privacy_of(session: Session, owner: Owner) -> OwnerPrivacy | None:
    """The owner's stored plan and choice, or None (plan unknown: never exported)."""
    return session.exec(select(OwnerPrivacy).where(owner.where(OwnerPrivacy))).first()


def explain(row: OwnerPrivacy | None) -> str:
    """One plain sentence on what happens to this owner's conversations."""
    plan = row.plan if row is not None else None
    if plan is None:
        return "Vigil does not know your plan, so your conversations are not used to train models."
    label = PLAN_LABELS[plan]
    if plan in NEVER_TRAINED:
        return f"Conversations on the {label} plan are never used to train models."
    if row.training_opt_out:
        return (
            "You opted out: your conversations are left out of every training export from now on."
        )
    return (
        f"On the {label} plan your conversations may be used to train models, after your "
        "own name, email addresses, phone numbers, card and bank account numbers, IP "
        "addresses and secrets in links are replaced. You can opt out at any time, free "
        "of charge."
    )


def set_privacy(
    session: Session,
    owner: Owner,
    *,
    plan: Plan | EllipsisType | None = ...,
    opt_out: bool | None = None,
    source: ConsentSource,
    actor: str,
) -> OwnerPrivacy:
    """Change an owner's plan and/or training choice (caller commits).

    `plan=...` keeps the stored plan, `opt_out=None` keeps the stored choice. Explicitly
    opting in on a plan that is never trained is refused (ConsentError); opting out is
    always accepted. A change is written to the consent history; a no-op writes nothing.
    """
    fresh = privacy_of(session, owner) is None
    row = _row_for_update(session, owner)
    old_plan = row.plan
    old_opt_out = None if fresh else row.training_opt_out
    new_plan = old_plan if plan is ... else (Plan(plan) if plan is not None else None)
    new_opt_out = opt_out if opt_out is not None else bool(old_opt_out)
    if opt_out is False and not may_opt_in(new_plan):
        shown = PLAN_LABELS[new_plan] if new_plan else "unknown"
        raise ConsentError(
            "training_opt_out",
            f"The {shown} plan is never used for training, so there is nothing to opt in to.",
        )
    if (old_plan, bool(old_opt_out)) == (new_plan, new_opt_out) and not (
        fresh and new_plan is not None
    ):
        return row
    now = utcnow()
    row.plan, row.training_opt_out, row.updated_at = new_plan, new_opt_out, now
    session.add(row)
    session.add(
        ConsentChange(
            user_id=owner.user_id,
            owner_ref=owner.owner_ref,
            actor=actor,
            source=source,
            old_plan=old_plan.value if old_plan else None,
            new_plan=new_plan.value if new_plan else None,
            old_opt_out=old_opt_out,
            new_opt_out=new_opt_out,
            changed_at=now,
        )
    )
    session.flush()
    return row


def consent_history(session: Session, owner: Owner) -> list[ConsentChange]:
    """Every change of this owner's plan or choice, oldest first."""
    query = select(ConsentChange).where(owner.where(ConsentChange)).order_by(col(ConsentChange.id))
    return list(session.exec(query))


def note_feedback_disclosed(session: Session, owner: Owner, kind: str) -> OwnerPrivacy:
    """Record which feedback disclosure the owner was shown, and when (caller commits)."""
    row = _row_for_update(session, owner)
    if row.feedback_disclosure != kind:
        row.feedback_disclosure, row.feedback_disclosed_at = kind, utcnow()
        session.add(row)
        session.flush()
    return row


def _row_for_update(session: Session, owner: Owner) -> OwnerPrivacy:
    """The owner's row, created if missing, locked for this transaction.

    INSERT ... ON CONFLICT DO NOTHING first, so two first requests for one owner meet on
    the same row instead of one failing on the unique index.
    """
    key = "user_id" if owner.user_id is not None else "owner_ref"
    statement = (
        dialect_insert(session)(OwnerPrivacy)
        .values(
            user_id=owner.user_id,
            owner_ref=owner.owner_ref,
            plan=None,
            training_opt_out=False,
            feedback_disclosure="",
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[key])
    )
    session.execute(statement)
    query = (
        select(OwnerPrivacy)
        .where(owner.where(OwnerPrivacy))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).one()
