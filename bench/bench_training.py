"""Issue 9: the training export on 100,000 conversations, with de-identification and without.

Both runs go through the same export code on the same rows in the same run: the baseline
("plain copy") swaps the de-identifier for the identity, so the ratio is the price of
de-identification alone (reading, unsealing, deciding and writing stay). The de-identifier
is then timed alone, single process, texts per second per core.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench.report import ratio, write_section

CONVERSATIONS = 100_000
MESSAGES_PER_CONVERSATION = 4

ORDINARY = (
    "Can you help me plan a trip to Lisbon in May? We are 4 people with a budget of 2,500 EUR.",
    "Sure. Day 1: Alfama and the castle; day 2: Belém; day 3: Sintra by train (40 minutes).",
    "What changed between Python 3.10 and 3.11? I saw a 25% speed-up mentioned in 2022.",
    "The main change is the specialising interpreter; most code runs 10-60% faster.",
    "Summarise chapter 7 in three sentences, please.",
    "The meeting moved to 14:30 on 2026-03-02, room 101.",
)
PERSONAL = (
    "My email is {name}@example.org and my phone is +33 6 12 34 56 78, call after 6.",
    "Wire it to DE89 3704 0044 0532 0130 00 or use card 4111 1111 1111 1111.",
    "The server at 192.168.1.20 rejects https://admin:hunter2@intranet.example/login?token=abc.",
    "Ring the office on 020 7946 0958 or (212) 736-5000 if the link fails.",
)


def texts(rng: random.Random, n: int) -> list[str]:
    """A corpus where one message in four carries personal data, as in real chat logs."""
    out = []
    for i in range(n):
        if rng.random() < 0.25:
            out.append(rng.choice(PERSONAL).format(name=f"user{i}"))
        else:
            out.append(rng.choice(ORDINARY))
    return out


def _populate(app, conversations: int) -> None:
    from sqlalchemy import insert

    from core.sealed_text import seal_for_row
    from core.timeutil import utcnow
    from privacy.models import Conversation, Message, OwnerPrivacy, Plan, Product, Role

    engine = app.extensions["vigil.engine"]
    # Seeded, reproducible synthetic data, not secrets.
    rng = random.Random(7)  # nosec B311
    now = utcnow()
    corpus = texts(rng, 4096)
    batch = 5000
    with engine.begin() as conn:
        conn.execute(
            insert(OwnerPrivacy),
            [
                {
                    "owner_ref": f"o{i}",
                    "plan": Plan.FREE,
                    "training_opt_out": i % 10 == 0,
                    "updated_at": now,
                }
                for i in range(1000)
            ],
        )
    for start in range(0, conversations, batch):
        ids = range(start + 1, min(start + batch, conversations) + 1)
        with engine.begin() as conn:
            conn.execute(
                insert(Conversation),
                [
                    {
                        "id": cid,
                        "public_ref": f"{cid:020x}",
                        "external_id": f"c{cid}",
                        "owner_ref": f"o{cid % 1000}",
                        "model_id": "chat-model-1",
                        "product": Product.CHAT,
                        "language": "en",
                        "title": "",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for cid in ids
                ],
            )
            conn.execute(
                insert(Message),
                [
                    {
                        "id": (mid := (cid - 1) * MESSAGES_PER_CONVERSATION + p + 1),
                        "conversation_id": cid,
                        "position": p,
                        "external_id": f"m{p}",
                        "role": Role.USER if p % 2 == 0 else Role.ASSISTANT,
                        "text": seal_for_row(
                            conn.dialect,
                            "message",
                            "text",
                            mid,
                            corpus[(cid * 4 + p) % len(corpus)],
                        ),
                        "created_at": now,
                    }
                    for cid in ids
                    for p in range(MESSAGES_PER_CONVERSATION)
                ],
            )


def _export(app, out: Path, *, deidentify: bool) -> tuple[float, dict]:
    from privacy.training import export
    from privacy.training.deidentify import Deidentifier

    original = Deidentifier.clean
    if not deidentify:
        Deidentifier.clean = lambda self, text, owner_terms=(): text  # the plain copy
    try:
        started = time.perf_counter()
        manifest = export.run_export(
            app.extensions["vigil.engine"], export.ExportOptions(out_dir=out, shard_size=5000)
        )
        return time.perf_counter() - started, manifest
    finally:
        Deidentifier.clean = original


def _deidentifier_alone(n: int) -> float:
    from privacy.training.deidentify import Deidentifier

    # Seeded, reproducible synthetic data, not secrets.
    corpus = texts(random.Random(11), n)  # nosec B311
    scrub = Deidentifier(b"k" * 32)
    started = time.perf_counter()
    for text in corpus:
        scrub.clean(text)
    return n / (time.perf_counter() - started)


def _profile(app, out: Path) -> str:
    from pyinstrument import Profiler

    profiler = Profiler()
    profiler.start()
    _export(app, out, deidentify=True)
    profiler.stop()
    lines = profiler.output_text(unicode=False, color=False, show_all=False).splitlines()
    return "\n".join(line for line in lines if line.strip())[:3000]


def _row(label: str, rate: float, seconds: float, manifest: dict) -> str:
    included = manifest["included"]["conversations"]
    excluded = sum(manifest["excluded"].values())
    return f"| {label} | {rate:,.0f} | {seconds:.1f} | {included:,} | {excluded:,} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    conversations = 5_000 if args.quick else CONVERSATIONS

    from app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        app = create_app(
            {
                "ENV": "test",
                "DATABASE_URL": f"sqlite:///{root / 'bench.db'}",
                "INSTANCE_PATH": str(root / "instance"),
            }
        )
        from core import migrate

        migrate.upgrade(app.extensions["vigil.engine"])
        started = time.perf_counter()
        _populate(app, conversations)
        print(f"populated {conversations} conversations in {time.perf_counter() - started:.1f}s")
        with app.app_context():
            plain_s, plain = _export(app, root / "plain", deidentify=False)
            full_s, full = _export(app, root / "full", deidentify=True)
            profile = _profile(app, root / "profiled")
        texts_per_s = _deidentifier_alone(50_000 if not args.quick else 10_000)
        app.extensions["vigil.engine"].dispose()

    considered = full["conversations_considered"]
    plain_rate, full_rate = considered / plain_s, considered / full_s
    body = f"""## Training export (issue 9)

`python -m bench.bench_training` ({conversations:,} conversations of
{MESSAGES_PER_CONVERSATION} messages on SQLite, one in four messages carrying personal data;
1,000 owners on the Free plan, one in ten opted out).

| run | conversations/s | seconds | included | excluded |
|---|---|---|---|---|
{_row("plain copy (identity instead of de-identification)", plain_rate, plain_s, plain)}
{_row("export with de-identification", full_rate, full_s, full)}

With de-identification the export runs at {ratio(full_rate, plain_rate)} the plain copy's
rate (the difference is the de-identifier: see the profile).

De-identifier alone, one process: **{texts_per_s:,.0f} texts per second per core**
(target: at least 10,000).

Profile of the export with de-identification (pyinstrument, top of the tree):

```
{profile}
```
"""
    write_section("training", body)
    print(body)


if __name__ == "__main__":
    main()
