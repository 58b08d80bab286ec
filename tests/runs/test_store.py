"""The SQLite run store: legal transitions only, an append-only log, idempotent creation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from enigma.runs.models import TRANSITIONS, RunRecord
from enigma.runs.store import IllegalTransition, SqliteRunStore


def _run(run_id: str, status: str = "queued", created: float | None = None) -> RunRecord:
    now = created if created is not None else time.time()
    return RunRecord(
        id=run_id,
        status=status,  # type: ignore[arg-type]
        fix_version="2.4.0",
        release_type="minor",
        repositories=["web-app"],
        actor="alice",
        created_at=now,
        updated_at=now,
        request={"fix_version": "2.4.0", "repositories": ["web-app"]},
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteRunStore:
    return SqliteRunStore(tmp_path / "runs.sqlite3")


def test_every_status_change_outside_the_table_is_refused(store: SqliteRunStore) -> None:
    statuses = list(TRANSITIONS)
    for before in statuses:
        for after in statuses:
            run_id = f"run-{before}-{after}"
            store.create(_run(run_id), None)
            store._write(run_id, {"status": before})  # place it, bypassing the check
            if after == before or after in TRANSITIONS[before]:
                assert store.set_status(run_id, after).status == after
            else:
                with pytest.raises(
                    IllegalTransition, match=f"is {before}; it cannot become {after}"
                ):
                    store.set_status(run_id, after)
                assert store.get(run_id).status == before  # type: ignore[union-attr]
    # the ones that matter most
    assert "running" not in TRANSITIONS["succeeded"]
    assert "waiting_for_approval" not in TRANSITIONS["queued"]
    assert TRANSITIONS["cancelled"] == frozenset({"queued"})  # only a re-run revives it


def test_the_event_log_only_grows_with_increasing_ids_and_survives_reopening(
    tmp_path: Path,
) -> None:
    store = SqliteRunStore(tmp_path / "runs.sqlite3")
    store.create(_run("run-a"), None)
    store.create(_run("run-b"), None)
    ids = [
        store.append_event("run-a" if i % 2 else "run-b", "step.started", {"i": i}).id
        for i in range(10)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 10
    store.close()
    store = SqliteRunStore(tmp_path / "runs.sqlite3")
    assert [e.data["i"] for e in store.events("run-a")] == [1, 3, 5, 7, 9]
    assert [e.id for e in store.events(None, after=ids[4])] == ids[5:]
    assert [e.id for e in store.events(None, after=ids[4], limit=2)] == ids[5:7]
    assert store.append_event("run-a", "x").id > ids[-1]


def test_an_idempotency_key_returns_the_first_run(store: SqliteRunStore) -> None:
    _, created = store.create(_run("run-1"), "alice\nkey-1")
    assert created
    again, created = store.create(_run("run-2"), "alice\nkey-1")
    assert not created and again.id == "run-1"
    assert store.get("run-2") is None
    _, created = store.create(_run("run-3"), "bob\nkey-1")
    assert created


def test_retention_finds_finished_runs_and_delete_takes_their_events(store: SqliteRunStore) -> None:
    store.create(_run("run-old"), None)
    store.create(_run("run-new"), None)
    store.create(_run("run-live"), None)
    store.append_event("run-old", "run.created")
    store.append_event("run-new", "run.created")
    store.update("run-old", finished_at=time.time() - 100 * 86_400)
    store.update("run-new", finished_at=time.time() - 86_400)
    assert store.finished_before(time.time() - 90 * 86_400) == ["run-old"]
    store.delete("run-old")
    assert store.get("run-old") is None and store.events("run-old") == []
    assert [e.run_id for e in store.events(None)] == ["run-new"]


def test_attempts_count_step_starts_per_repository(store: SqliteRunStore) -> None:
    store.create(_run("run-a"), None)
    for repo in ("web-app", "web-app", "notifications", None):
        store.append_event("run-a", "step.started", step="merge_feature_branches", repo=repo)
    store.append_event("run-a", "step.finished", step="merge_feature_branches", repo="web-app")
    assert store.step_attempts("run-a") == {
        ("merge_feature_branches", "web-app"): 2,
        ("merge_feature_branches", "notifications"): 1,
        ("merge_feature_branches", None): 1,
    }
