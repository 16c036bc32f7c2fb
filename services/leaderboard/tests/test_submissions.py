"""Publishing, withdrawing and hiding entries: who may, which runs, once per run, bad input."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from flageval_leaderboard.models import Entry, KnownRun

NLP = [("knowledge", "mmlu", {"accuracy": 0.5})]


async def test_publish_named_and_read_the_state(board) -> None:
    run_id = await board.finished(board.alice, NLP)
    before = await board.client.get(f"/api/runs/{run_id}/submissions", headers=board.h(board.alice))
    assert before.status_code == 200
    assert before.json()["status"] == "not_submitted" and before.json()["can_publish"] is True

    reply = await board.submit(run_id, board.alice, "named")
    assert reply.status_code == 201, reply.text
    state = reply.json()
    assert state["status"] == "published" and state["mode"] == "named"
    assert state["domain"] == "nlp" and state["can_publish"] is False
    after = await board.client.get(f"/api/runs/{run_id}/submissions", headers=board.h(board.alice))
    assert after.json() == state
    assert len((await board.board())["rows"]) == 1


async def test_once_per_run(board) -> None:
    run_id = await board.publish_run(board.alice, NLP)
    for mode in ("named", "anonymous"):
        again = await board.submit(run_id, board.alice, mode)
        assert again.status_code == 409
        assert again.json()["detail"]["code"] == "already_published"
    assert len((await board.board())["rows"]) == 1


async def test_concurrent_submissions_of_one_run_publish_it_once(board) -> None:
    run_id = await board.finished(board.alice, NLP)
    replies = await asyncio.gather(*(board.submit(run_id, board.alice) for _ in range(5)))
    assert sorted(r.status_code for r in replies) == [201, 409, 409, 409, 409]
    assert len((await board.board())["rows"]) == 1


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("validation", "succeeded", "run_not_formal"),
        ("formal", "failed", "run_not_succeeded"),
        ("formal", "stopped", "run_not_succeeded"),
        ("validation", "failed", "run_not_formal"),
    ],
)
async def test_only_succeeded_formal_runs_are_published(
    board, kind: str, status: str, code: str
) -> None:
    run_id = await board.finished(board.alice, NLP, kind=kind, status=status)
    reply = await board.submit(run_id, board.alice)
    assert reply.status_code == 409
    assert reply.json()["detail"]["code"] == code
    state = await board.client.get(f"/api/runs/{run_id}/submissions", headers=board.h(board.alice))
    assert state.json()["can_publish"] is False and state.json()["why_not"]
    assert (await board.board())["rows"] == []


async def test_a_run_the_board_has_not_seen_finish(board) -> None:
    run_id = await board.requested(board.alice)
    reply = await board.submit(run_id, board.alice)
    assert reply.status_code == 409
    assert reply.json()["detail"]["code"] == "run_not_finished"
    # Someone else's unfinished run, and a run nobody requested: not found.
    assert (await board.submit(run_id, board.bob)).status_code == 404
    assert (await board.submit(uuid.uuid4(), board.alice)).status_code == 404
    # Once run.finished arrives, it can be published.
    await board.publish(board.finished_event(run_id, board.alice, NLP))
    assert (await board.submit(run_id, board.alice)).status_code == 201


async def test_only_the_owner_submits_reads_or_withdraws(board) -> None:
    run_id = await board.finished(board.alice, NLP)
    path = f"/api/runs/{run_id}/submissions"
    for method in ("post", "get", "delete"):
        kwargs: dict[str, Any] = {"json": {"mode": "named"}} if method == "post" else {}
        # Another user and an administrator who does not own it: the run does not exist.
        for who in (board.bob, board.admin):
            reply = await board.client.request(method, path, headers=board.h(who), **kwargs)
            assert reply.status_code == 404, (method, who.username)
        # Not logged in, and not approved.
        assert (await board.client.request(method, path, **kwargs)).status_code == 401
        reply = await board.client.request(method, path, headers=board.h(board.carol), **kwargs)
        assert reply.status_code == 403
    assert (await board.board())["rows"] == []

    assert (await board.submit(run_id, board.alice)).status_code == 201
    assert (await board.client.delete(path, headers=board.h(board.bob))).status_code == 404
    assert len((await board.board())["rows"]) == 1


async def test_withdraw_and_publish_again(board) -> None:
    run_id = await board.publish_run(board.alice, NLP, mode="named")
    path = f"/api/runs/{run_id}/submissions"
    reply = await board.client.delete(path, headers=board.h(board.alice))
    assert reply.status_code == 200 and reply.json()["status"] == "withdrawn"
    assert reply.json()["can_publish"] is True
    assert (await board.board())["rows"] == []
    again = await board.client.delete(path, headers=board.h(board.alice))
    assert again.status_code == 409 and again.json()["detail"]["code"] == "not_published"

    reply = await board.submit(run_id, board.alice, "anonymous")
    assert reply.status_code == 201 and reply.json()["mode"] == "anonymous"
    (row,) = (await board.board())["rows"]
    assert row["submitter"] == "匿名"


async def test_withdrawing_a_run_never_published(board) -> None:
    run_id = await board.finished(board.alice, NLP)
    reply = await board.client.delete(
        f"/api/runs/{run_id}/submissions", headers=board.h(board.alice)
    )
    assert reply.status_code == 409 and reply.json()["detail"]["code"] == "not_published"


async def test_admins_hide_and_unhide_with_a_reason_the_owner_sees(board) -> None:
    run_id = await board.publish_run(board.alice, NLP, model_name="cheater")
    other = await board.publish_run(board.bob, NLP, model_name="honest")
    (entry,) = [r for r in (await board.board())["rows"] if r["model_name"] == "cheater"]
    hide = f"/api/admin/leaderboards/entries/{entry['id']}/hide"
    unhide = f"/api/admin/leaderboards/entries/{entry['id']}/unhide"
    body = {"reason": "  Trained on the test set. "}

    # Only administrators.
    for who in (board.alice, board.bob, board.carol):
        assert (await board.client.post(hide, json=body, headers=board.h(who))).status_code == 403
        assert (await board.client.post(unhide, headers=board.h(who))).status_code == 403
    assert (await board.client.post(hide, json=body)).status_code == 401
    listing = await board.client.get("/api/admin/leaderboards/entries", headers=board.h(board.bob))
    assert listing.status_code == 403

    reply = await board.client.post(hide, json=body, headers=board.h(board.admin))
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "hidden"
    assert reply.json()["hidden_reason"] == "Trained on the test set."
    assert [r["model_name"] for r in (await board.board())["rows"]] == ["honest"]

    state = await board.client.get(f"/api/runs/{run_id}/submissions", headers=board.h(board.alice))
    assert state.json()["status"] == "hidden"
    assert state.json()["hidden_reason"] == "Trained on the test set."
    assert state.json()["can_publish"] is False

    # Withdrawing and publishing again does not get around the decision.
    path = f"/api/runs/{run_id}/submissions"
    assert (await board.client.delete(path, headers=board.h(board.alice))).status_code == 200
    again = await board.submit(run_id, board.alice)
    assert again.status_code == 409 and again.json()["detail"]["code"] == "entry_hidden"

    hidden = await board.client.get(
        "/api/admin/leaderboards/entries",
        params={"domain": "nlp", "status": "hidden"},
        headers=board.h(board.admin),
    )
    assert [e["run_id"] for e in hidden.json()] == [str(run_id)]
    assert hidden.json()[0]["owner_id"] == str(board.alice.user_id)

    reply = await board.client.post(unhide, headers=board.h(board.admin))
    assert reply.status_code == 200 and reply.json()["status"] == "withdrawn"
    assert (await board.submit(run_id, board.alice)).status_code == 201
    assert {r["model_name"] for r in (await board.board())["rows"]} == {"cheater", "honest"}
    assert other


async def test_hiding_an_unknown_entry(board) -> None:
    path = f"/api/admin/leaderboards/entries/{uuid.uuid4()}/hide"
    reply = await board.client.post(path, json={"reason": "x"}, headers=board.h(board.admin))
    assert reply.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"mode": "public"},
        {"mode": "Named"},
        {"mode": ""},
        {"mode": None},
        {"mode": 1},
        {"mode": ["named"]},
        {"mode": "named", "organization": "x"},
        ["named"],
        "named",
        None,
    ],
)
async def test_bad_submission_bodies(board, body: Any) -> None:
    run_id = await board.finished(board.alice, NLP)
    reply = await board.client.post(
        f"/api/runs/{run_id}/submissions", json=body, headers=board.h(board.alice)
    )
    assert reply.status_code == 422, reply.text
    assert (await board.board())["rows"] == []


async def test_malformed_requests(board) -> None:
    h = board.h(board.alice)
    reply = await board.client.post(
        f"/api/runs/{uuid.uuid4()}/submissions",
        content=b"{not json",
        headers={**h, "content-type": "application/json"},
    )
    assert reply.status_code == 422
    for method in ("post", "get", "delete"):
        reply = await board.client.request(
            method, "/api/runs/not-a-uuid/submissions", json={"mode": "named"}, headers=h
        )
        assert reply.status_code == 422, method


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 501},
        {"reason": "a\x00b"},
        {"reason": "a\x1b[31mb"},
        {"reason": 5},
        {"reason": None},
        {"reason": "ok", "notify": True},
        ["ok"],
    ],
)
async def test_bad_hide_bodies(board, body: Any) -> None:
    await board.publish_run(board.alice, NLP)
    (row,) = (await board.board())["rows"]
    reply = await board.client.post(
        f"/api/admin/leaderboards/entries/{row['id']}/hide", json=body, headers=board.h(board.admin)
    )
    assert reply.status_code == 422, reply.text
    assert len((await board.board())["rows"]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"domain": "chemistry"},
        {"status": "gone"},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "x"},
        {"offset": "-1"},
    ],
)
async def test_bad_admin_listing_parameters(board, params: dict[str, str]) -> None:
    reply = await board.client.get(
        "/api/admin/leaderboards/entries", params=params, headers=board.h(board.admin)
    )
    assert reply.status_code == 422
    bad = await board.client.post(
        "/api/admin/leaderboards/entries/not-a-uuid/unhide", headers=board.h(board.admin)
    )
    assert bad.status_code == 422


async def test_redelivered_run_finished_does_not_duplicate(board) -> None:
    run_id = await board.requested(board.alice)
    finished = board.finished_event(run_id, board.alice, NLP)
    for _ in range(3):
        await board.publish(finished)  # the same message id, delivered again
    # eval-api publishing a second message for the same run updates the one row.
    await board.publish(board.finished_event(run_id, board.alice, NLP))
    # A late run.requested does not undo the finish.
    await board.service.bus.publish(board.published[0])
    await board.service.bus.join()
    async with board.service.ctx.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(KnownRun)) == 1
        assert (await session.get(KnownRun, run_id)).status == "succeeded"
    assert (await board.submit(run_id, board.alice)).status_code == 201
    await board.publish(finished)
    async with board.service.ctx.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Entry)) == 1
    assert len((await board.board())["rows"]) == 1


async def test_run_finished_before_run_requested(board) -> None:
    run_id = uuid.uuid4()
    await board.publish(board.finished_event(run_id, board.alice, NLP))
    assert (await board.submit(run_id, board.alice)).status_code == 201


async def test_an_older_profile_event_delivered_late_does_not_win(board) -> None:
    from flageval_contracts import new_envelope
    from flageval_contracts.events import UserProfileSubmitted

    old = new_envelope(
        "user.profile_submitted",
        UserProfileSubmitted(
            user_id=board.alice.user_id,
            email="a@example.org",
            username="alice",
            real_name="Old Name",
            organization="Old Org",
        ),
        producer="gateway",
    )
    await board.person(board.alice, "New Name", "New Org")
    await board.publish(old)
    # A version-1 event without the fields changes nothing either.
    await board.publish(
        new_envelope(
            "user.reviewed",
            {
                "user_id": str(board.alice.user_id),
                "email": "a@example.org",
                "username": "alice",
                "decision": "approve",
                "status": "approved",
                "reviewer_id": str(board.admin.user_id),
            },
            producer="gateway",
        )
    )
    await board.publish_run(board.alice, NLP)
    (row,) = (await board.board())["rows"]
    assert (row["submitter"], row["organization"]) == ("New Name", "New Org")


async def test_publishing_needs_the_catalog(board) -> None:
    from flageval_platform.peers import Peers

    run_id = await board.finished(board.alice, NLP)
    ctx = board.service.ctx
    ctx.peers = Peers(ctx.secret_key, {})  # eval-api unreachable
    reply = await board.submit(run_id, board.alice)
    assert reply.status_code == 503
    assert (await board.board())["rows"] == []


async def test_entry_timestamps_carry_their_offset_and_paging_is_bounded(board) -> None:
    run_id = await board.publish_run(board.alice, NLP)
    state = (
        await board.client.get(f"/api/runs/{run_id}/submissions", headers=board.h(board.alice))
    ).json()
    (listed,) = (
        await board.client.get("/api/admin/leaderboards/entries", headers=board.h(board.admin))
    ).json()
    (row,) = (await board.board())["rows"]
    for value in (state["submitted_at"], listed["submitted_at"], row["submitted_at"]):
        assert datetime.fromisoformat(value).utcoffset() == timedelta(0), value
    for query in ("offset=9223372036854775808", "offset=-1", "limit=0", "limit=501"):
        reply = await board.client.get(
            f"/api/admin/leaderboards/entries?{query}", headers=board.h(board.admin)
        )
        assert reply.status_code == 422, query
        assert reply.json()["code"] == "validation_error"
