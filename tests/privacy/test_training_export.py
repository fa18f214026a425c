"""The one door to training data: who is in, who is out, and why, as the manifest says."""

from __future__ import annotations

import hashlib

import pytest

from privacy.consent import NEVER_TRAINED, TRAINED_BY_DEFAULT
from privacy.models import Plan
from tests.factories import make_conversation, make_token, set_plan
from tests.helpers import Api, post_form, report_body, run_training_export


def _marker(records) -> set[str]:
    """The marker word of every exported conversation (tests put one in the first message)."""
    found = set()
    for record in records:
        if record["type"] == "conversation":
            found.add(record["messages"][0]["text"].split()[0])
    return found


def test_default_consent_per_plan(app, factory, tmp_path):
    for plan in Plan:
        user = factory.make_user(
            email=f"owner-{len(plan.value)}-{plan.name.lower()[::-1]}@example.test"
        )
        set_plan(app, user, plan=plan.value)
        make_conversation(app, user, texts=(f"marker-{plan.value} hello", "answer"))
    nobody = factory.make_user(email="somebody@example.test")  # no plan recorded at all
    make_conversation(app, nobody, texts=("marker-unknown hello", "answer"))

    manifest, records = run_training_export(app, tmp_path / "out")

    assert _marker(records) == {f"marker-{p.value}" for p in TRAINED_BY_DEFAULT}
    assert manifest["included"]["conversations"] == len(TRAINED_BY_DEFAULT)
    assert manifest["excluded"] == {
        "plan_never_trained": len(NEVER_TRAINED),
        "unknown_plan": 1,
    }
    snapshot = manifest["consent_snapshot"]
    assert snapshot["owners"] == len(Plan)
    assert snapshot["owners_by_plan_and_choice"]["team:default"] == 1


@pytest.mark.parametrize("plan", sorted(p.value for p in NEVER_TRAINED))
def test_never_trained_plans_cannot_opt_in(app, client, plan):
    api = Api(client, make_token(app, scopes=("privacy:write",)))
    refused = client.put(
        "/api/v1/owners/o-1/privacy",
        json={"plan": plan, "training_opt_out": False},
        headers=api.headers(),
    )
    assert refused.status_code == 422
    assert refused.get_json()["errors"][0]["pointer"] == "#/training_opt_out"
    # Stating the plan alone works and is reported as never used; opting out is accepted.
    stated = client.put("/api/v1/owners/o-1/privacy", json={"plan": plan}, headers=api.headers())
    assert stated.status_code == 200
    assert stated.get_json()["used_for_training"] is False
    out = client.put(
        "/api/v1/owners/o-1/privacy",
        json={"plan": plan, "training_opt_out": True},
        headers=api.headers(),
    )
    assert out.status_code == 200 and out.get_json()["training_opt_out"] is True


def test_a_free_user_opts_out_on_the_web_and_leaves_the_next_export(app, client, factory, tmp_path):
    user = factory.make_user(email="una@example.test")
    set_plan(app, user, plan="free")
    make_conversation(app, user, texts=("marker-free hello", "answer"))
    _, first = run_training_export(app, tmp_path / "one")
    assert _marker(first) == {"marker-free"}

    factory.login(client, user)
    page = client.get("/privacy").get_data(as_text=True)
    assert "may be used to train models" in page and "free of charge" in page
    saved = post_form(client, "/privacy", {"opt_out": "y"}, token_from="/privacy")
    assert saved.status_code == 302
    after = client.get("/privacy").get_data(as_text=True)
    assert "You opted out" in after
    assert "web" in after  # the history names the source

    manifest, second = run_training_export(app, tmp_path / "two")
    assert second == []
    assert manifest["excluded"] == {"opted_out": 1}


def test_consent_history_keeps_who_when_old_new_and_source(app, client, factory, db):
    from privacy.consent import Owner, consent_history

    api = Api(client, make_token(app, scopes=("privacy:write",)))
    for body in ({"plan": "free"}, {"plan": "free", "training_opt_out": True}, {"plan": "pro"}):
        assert (
            client.put("/api/v1/owners/o-7/privacy", json=body, headers=api.headers()).status_code
            == 200
        )
    # The same state again is not a change.
    assert (
        client.put(
            "/api/v1/owners/o-7/privacy", json={"plan": "pro"}, headers=api.headers()
        ).status_code
        == 200
    )
    history = consent_history(db, Owner(owner_ref="o-7"))
    assert [(h.old_plan, h.new_plan, h.old_opt_out, h.new_opt_out) for h in history] == [
        (None, "free", None, False),
        ("free", "free", False, True),
        ("free", "pro", True, True),
    ]
    assert {h.source for h in history} == {"api"}
    assert all(h.actor.startswith("token:") for h in history)


def _privacy(client, headers, owner_id, body) -> bool:
    response = client.put(f"/api/v1/owners/{owner_id}/privacy", json=body, headers=headers)
    return response.status_code == 200


def _api_conversation(client, api, conversation_id, owner_id, first_text, product="chat"):
    body = {
        "owner_id": owner_id,
        "model_id": "chat-model-1",
        "product": product,
        "messages": [
            {"id": "m1", "role": "user", "text": first_text, "created_at": "2026-11-30T09:00:00Z"},
            {
                "id": "m2",
                "role": "assistant",
                "text": "An answer to rate.",
                "created_at": "2026-11-30T09:00:03Z",
            },
        ],
    }
    response = client.put(f"/api/v1/conversations/{conversation_id}", json=body, headers=api)
    assert response.status_code == 201, response.get_json()


def _rate(client, api, conversation_id, rating="up"):
    response = client.put(
        f"/api/v1/conversations/{conversation_id}/messages/m2/feedback",
        json={"rating": rating, "comment": "useful", "disclosure_shown": True},
        headers=api,
    )
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("overrides", [True, False], ids=["setting-on", "setting-off"])
def test_the_feedback_rule(app, client, tmp_path, overrides):
    app.config["VIGIL"]["FEEDBACK_OVERRIDES_OPT_OUT"] = overrides
    headers = Api(client, make_token(app, scopes=("conversations:write", "privacy:write")))
    headers = headers.headers()
    # An opted-out Free owner who rated an answer, and one who did not rate.
    for owner in ("rated", "silent"):
        assert (
            client.put(
                f"/api/v1/owners/{owner}/privacy",
                json={"plan": "free", "training_opt_out": True},
                headers=headers,
            ).status_code
            == 200
        )
        _api_conversation(client, headers, f"c-{owner}", owner, f"marker-{owner} question")
    _rate(client, headers, "c-rated")

    manifest, records = run_training_export(app, tmp_path / "out")

    assert manifest["feedback_overrides_opt_out"] is overrides
    assert _marker(records) == set()  # opted out: no conversation goes whole
    feedback = [r for r in records if r["type"] == "feedback"]
    if overrides:
        assert len(feedback) == 1
        assert feedback[0]["input"] == "marker-rated question"
        assert feedback[0]["output"] == "An answer to rate."
        assert feedback[0]["rating"] == "up"
        assert manifest["included"]["feedback_items"] == 1
    else:
        assert feedback == []
    assert manifest["excluded"] == {"opted_out": 2}


def test_a_reported_conversation_is_never_exported_even_with_consent_and_feedback(
    app, client, tmp_path
):
    headers = Api(
        client, make_token(app, scopes=("reports:write", "conversations:write", "privacy:write"))
    ).headers()
    assert (
        client.put("/api/v1/owners/o-r/privacy", json={"plan": "free"}, headers=headers).status_code
        == 200
    )
    _api_conversation(client, headers, "c-reported", "o-r", "marker-reported question")
    _api_conversation(client, headers, "c-kept", "o-r", "marker-kept question")
    _rate(client, headers, "c-reported")
    report = report_body(conversation_id="c-reported")
    report["conversation"]["owner_id"] = "o-r"
    assert client.post("/api/v1/reports", json=report, headers=headers).status_code == 201

    manifest, records = run_training_export(app, tmp_path / "out")

    assert _marker(records) == {"marker-kept"}
    assert not [r for r in records if r["type"] == "feedback"]
    assert manifest["excluded"] == {"excluded_by_moderation": 1}
    assert manifest["exclusion_list"]["entries"] == 1


def test_deleted_and_zero_retention_conversations_stay_out(app, client, tmp_path):
    headers = Api(client, make_token(app, scopes=("conversations:write", "privacy:write")))
    headers = headers.headers()
    assert (
        client.put("/api/v1/owners/o-z/privacy", json={"plan": "free"}, headers=headers).status_code
        == 200
    )
    _api_conversation(client, headers, "c-ocr", "o-z", "marker-ocr text", product="ocr")
    _api_conversation(client, headers, "c-gone", "o-z", "marker-gone text")
    _api_conversation(client, headers, "c-stays", "o-z", "marker-stays text")
    assert client.delete("/api/v1/conversations/c-gone", headers=headers).status_code == 200

    manifest, records = run_training_export(app, tmp_path / "out")

    assert _marker(records) == {"marker-stays"}
    assert manifest["excluded"] == {"deleted": 1, "zero_retention": 1}


def test_the_manifest_hashes_each_shard_and_the_output_dir_is_not_reused(app, factory, tmp_path):
    user = factory.make_user()
    set_plan(app, user, plan="pro")
    for i in range(5):
        make_conversation(app, user, texts=(f"marker-{i} hi", "answer"))
    manifest, records = run_training_export(app, tmp_path / "out", "--shard-size", "2")
    assert len(manifest["shards"]) == 3 and len(records) == 5
    for shard in manifest["shards"]:
        data = (tmp_path / "out" / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
    assert not (tmp_path / "out" / "export-state.json").exists()  # the key is gone
    again = app.test_cli_runner().invoke(
        args=["training", "export", "--out", str(tmp_path / "out")]
    )
    assert again.exit_code != 0 and "already holds a finished export" in again.output


@pytest.mark.parametrize("crash", ["writing-a-shard", "after-a-shard-before-its-state"])
def test_a_crashed_export_resumes_without_duplicates_and_keeps_its_consent_snapshot(
    app, factory, tmp_path, monkeypatch, crash
):
    from privacy.training import export

    users = []
    for i in range(6):
        user = factory.make_user(email=f"u{i}@example.test")
        set_plan(app, user, plan="free")
        # The same third-party email on both sides of the crash.
        make_conversation(app, user, texts=(f"marker-{i} write to kim.lee@example.org", "ok"))
        users.append(user)

    calls = []
    target = "_write_shard" if crash == "writing-a-shard" else "_save_state"
    real = getattr(export, target)

    def crash_on_second(*args):
        calls.append(args[0])
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real(*args)

    monkeypatch.setattr(export, target, crash_on_second)
    out = tmp_path / "crashed"
    crashed = app.test_cli_runner().invoke(
        args=["training", "export", "--out", str(out), "--shard-size", "2"]
    )
    assert crashed.exit_code != 0
    state = out / "export-state.json"
    assert state.exists() and not (out / "manifest.json").exists()
    assert state.stat().st_mode & 0o077 == 0  # the key is never readable by others
    monkeypatch.setattr(export, target, real)
    # Consent changed after the export started: the resumed export still uses the snapshot.
    set_plan(app, users[5], plan="free", opt_out=True)

    manifest, records = run_training_export(app, out, "--shard-size", "2")

    assert manifest["resumed"] is True
    markers = [r["messages"][0]["text"].split()[0] for r in records]
    assert markers == [f"marker-{i}" for i in range(6)]  # each once, in order
    assert manifest["included"]["conversations"] == 6
    pseudonyms = {r["messages"][0]["text"].split("write to ", 1)[1] for r in records}
    assert len(pseudonyms) == 1 and pseudonyms.pop().startswith("[email:")  # one key
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "shard-00001.jsonl",
        "shard-00002.jsonl",
        "shard-00003.jsonl",
    ]


def test_feedback_overrides_an_opt_out_only_for_owners_told_so(app, client, tmp_path):
    headers = Api(client, make_token(app, scopes=("conversations:write", "privacy:write")))
    headers = headers.headers()
    assert _privacy(client, headers, "o-told", {"plan": "free", "training_opt_out": True})
    _api_conversation(client, headers, "c-told", "o-told", "marker-told question")
    app.config["VIGIL"]["FEEDBACK_OVERRIDES_OPT_OUT"] = False  # told: "opt-out wins"
    _rate(client, headers, "c-told")
    app.config["VIGIL"]["FEEDBACK_OVERRIDES_OPT_OUT"] = True  # the setting flips later

    _, records = run_training_export(app, tmp_path / "out")

    assert [r for r in records if r["type"] == "feedback"] == []


def test_zero_retention_text_is_never_stored_outside_report_evidence(app, client, db):
    from sqlmodel import select

    from privacy.models import Message

    headers = Api(client, make_token(app, scopes=("conversations:write",))).headers()
    body = {
        "model_id": "ocr-1",
        "product": "ocr",
        "messages": [
            {
                "id": "m1",
                "role": "user",
                "text": "scanned text",
                "created_at": "2026-11-30T09:00:00Z",
            }
        ],
    }
    response = client.put("/api/v1/conversations/c-scan", json=body, headers=headers)
    assert response.status_code == 201 and response.get_json()["message_count"] == 0
    assert db.exec(select(Message)).all() == []
