"""The run stores, SQLite and PostgreSQL alike: legal transitions only, an append-only log in
commit order, idempotent creation, search, retention, and outages reported as such."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import zlib
from pathlib import Path

import pytest

from enigma.runs.models import TRANSITIONS, RunRecord
from enigma.runs.pg_store import PgRunStore
from enigma.runs.sqlite_schema import MIGRATIONS, connect, migrate
from enigma.runs.store import IllegalTransition, StoreUnavailable, VersionBusy
from tests.runs.conftest import StoreFactory, run_async


def _run(run_id: str, status: str = "queued", version: str | None = None) -> RunRecord:
    """A run; each run id its own fix version unless told (one live run per version)."""
    now = time.time()
    return RunRecord(
        id=run_id,
        status=status,
        fix_version=version or f"9.{zlib.crc32(run_id.encode()) % 100_000}.0",
        release_type="minor",
        repositories=["web-app"],
        actor="alice",
        created_at=now,
        updated_at=now,
        request={"fix_version": "2.4.0", "repositories": ["web-app"]},
    )


async def _place(store: object, run_id: str, status: str) -> None:
    """Put a run into `status` along legal steps (the store refuses anything else)."""
    path = {
        "queued": [],
        "running": ["running"],
        "waiting_for_approval": ["running", "waiting_for_approval"],
        "paused": ["paused"],
        "succeeded": ["running", "succeeded"],
        "failed": ["running", "failed"],
        "cancelled": ["cancelled"],
    }[status]
    for step in path:
        await store.set_status(run_id, step)  # type: ignore[attr-defined]


@run_async
async def test_every_status_change_outside_the_table_is_refused(stores: StoreFactory) -> None:
    async with stores() as store:
        statuses = list(TRANSITIONS)
        for before in statuses:
            for after in statuses:
                run_id = f"run-{before}-{after}"
                await store.create(_run(run_id), None)
                await _place(store, run_id, before)
                if after == before or after in TRANSITIONS[before]:
                    assert (await store.set_status(run_id, after)).status == after
                else:
                    with pytest.raises(IllegalTransition, match=f"is {before}; it cannot"):
                        await store.set_status(run_id, after)
                    assert (await store.get(run_id)).status == before  # type: ignore[union-attr]
    # the ones that matter most
    assert "running" not in TRANSITIONS["succeeded"]
    assert "running" not in TRANSITIONS["paused"]  # a pause that lands first wins
    assert "waiting_for_approval" not in TRANSITIONS["queued"]
    assert TRANSITIONS["cancelled"] == frozenset({"queued"})  # only a re-run revives it


@run_async
async def test_the_event_log_only_grows_in_commit_order_and_survives_reopening(
    stores: StoreFactory,
) -> None:
    async with stores() as store:
        await store.create(_run("run-a"), None)
        await store.create(_run("run-b"), None)
        ids = [
            (await store.append_event("run-a" if i % 2 else "run-b", "step.started", {"i": i})).id
            for i in range(10)
        ]
        assert ids == sorted(ids) and len(set(ids)) == 10
    async with stores() as store:
        assert [e.data["i"] for e in await store.events("run-a")] == [1, 3, 5, 7, 9]
        assert [e.id for e in await store.events(None, after=ids[4])] == ids[5:]
        assert [e.id for e in await store.events(None, after=ids[4], limit=2)] == ids[5:7]
        assert (await store.append_event("run-a", "x")).id > ids[-1]
        typed = await store.events("run-a", types={"x"})
        assert [e.type for e in typed] == ["x"]


@run_async
async def test_many_writers_at_once_each_get_their_event_in_id_order(
    stores: StoreFactory,
) -> None:
    async with stores() as store:
        runs = [f"run-{i}" for i in range(20)]
        for run_id in runs:
            await store.create(_run(run_id), None)

        async def writer(run_id: str) -> list[int]:
            return [(await store.append_event(run_id, "tick", {"n": n})).id for n in range(10)]

        per_run = await asyncio.gather(*(writer(r) for r in runs))
        everything = [e.id for e in await store.events(None, limit=10_000)]
        assert sorted(everything) == everything and len(everything) == 200
        for run_id, ids in zip(runs, per_run, strict=True):
            assert ids == sorted(ids)
            assert [e.id for e in await store.events(run_id)] == ids


@run_async
async def test_a_refused_write_does_not_undo_the_writes_committed_with_it(
    stores: StoreFactory,
) -> None:
    async with stores() as store:
        await store.create(_run("run-a"), None)
        await _place(store, "run-a", "succeeded")
        results = await asyncio.gather(
            store.append_event("run-a", "before"),
            store.set_status("run-a", "running"),  # illegal: succeeded -> running
            store.append_event("run-a", "after"),
            return_exceptions=True,
        )
        assert isinstance(results[1], IllegalTransition)
        assert [e.type for e in await store.events("run-a")] == ["before", "after"]


@run_async
async def test_one_live_run_per_fix_version(stores: StoreFactory) -> None:
    async with stores() as store:
        await store.create(_run("run-a", version="2.4.0"), None)
        with pytest.raises(VersionBusy, match=r"run run-a is releasing 2\.4\.0 \(queued\)"):
            await store.create(_run("run-b", version="2.4.0"), None)
        await store.set_status("run-a", "running")
        await store.set_status("run-a", "failed")  # not live: another may start
        await store.create(_run("run-b", version="2.4.0"), None)
        with pytest.raises(VersionBusy, match=r"run run-b is releasing 2\.4\.0"):
            await store.set_status("run-a", "queued")  # resuming the failed one is refused
        assert (await store.get("run-a")).status == "failed"  # type: ignore[union-attr]
        results = await asyncio.gather(  # at once: exactly one of them goes live
            *(store.create(_run(f"run-x{i}", version="3.0.0"), None) for i in range(5)),
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 1
        assert all(isinstance(r, VersionBusy) for r in results if isinstance(r, BaseException))


@run_async
async def test_an_idempotency_key_returns_the_first_run(stores: StoreFactory) -> None:
    async with stores() as store:
        _, created = await store.create(_run("run-1"), "alice\nkey-1")
        assert created
        again, created = await store.create(_run("run-2"), "alice\nkey-1")
        assert not created and again.id == "run-1"
        assert await store.get("run-2") is None
        _, created = await store.create(_run("run-3"), "bob\nkey-1")
        assert created


@run_async
async def test_runs_are_found_by_id_version_repository_or_ticket(stores: StoreFactory) -> None:
    async with stores() as store:
        await store.create(_run("run-a"), None)
        other = _run("run-b").model_copy(
            update={"fix_version": "2.5.0", "repositories": ["notifications"]}
        )
        await store.create(other, None)
        await store.update("run-b", tickets=["ENG-131", "ENG-132"])

        async def ids(**query: object) -> list[str]:
            runs, total = await store.list_runs(None, None, 50, 0, **query)  # type: ignore[arg-type]
            assert total == len(runs)
            return sorted(r.id for r in runs)

        assert await ids(query="ENG-131") == ["run-b"]
        assert await ids(query="web-app") == ["run-a"]
        assert await ids(query="2.5.0") == ["run-b"]
        assert await ids(query="run-a") == ["run-a"]
        assert await ids(query="ENG-1") == []  # whole values only, never a pattern
        assert await ids(query="%") == []


@run_async
async def test_retention_finds_finished_runs_and_delete_takes_their_events(
    stores: StoreFactory,
) -> None:
    async with stores() as store:
        for run_id in ("run-old", "run-new", "run-live"):
            await store.create(_run(run_id), None)
        await store.append_event("run-old", "run.created")
        await store.append_event("run-new", "run.created")
        await store.update("run-old", finished_at=time.time() - 100 * 86_400)
        await store.update("run-new", finished_at=time.time() - 86_400)
        assert await store.finished_before(time.time() - 90 * 86_400) == ["run-old"]
        await store.delete("run-old")
        assert await store.get("run-old") is None and await store.events("run-old") == []
        assert [e.run_id for e in await store.events(None)] == ["run-new"]


@run_async
async def test_attempts_count_step_starts_per_repository(stores: StoreFactory) -> None:
    async with stores() as store:
        await store.create(_run("run-a"), None)
        for repo in ("web-app", "web-app", "notifications", None):
            await store.append_event(
                "run-a", "step.started", step="merge_feature_branches", repo=repo
            )
        await store.append_event(
            "run-a", "step.finished", step="merge_feature_branches", repo="web-app"
        )
        assert await store.step_attempts("run-a") == {
            ("merge_feature_branches", "web-app"): 2,
            ("merge_feature_branches", "notifications"): 1,
            ("merge_feature_branches", None): 1,
        }


@run_async
async def test_the_probe_passes_while_the_store_is_writable(stores: StoreFactory) -> None:
    async with stores() as store:
        await store.probe()


@pytest.mark.postgres
@run_async
async def test_an_unreachable_database_is_store_unavailable_within_seconds() -> None:
    store = PgRunStore("postgresql://postgres@127.0.0.1:1/test", "w1")
    store.pool.timeout = 1.0
    await store.pool.open(wait=False)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="database unavailable"):
        await store.get("run-x")
    assert time.monotonic() - started < 5
    await store.close()


@pytest.mark.postgres
@run_async
async def test_a_stale_fence_refuses_the_old_worker_s_writes(
    stores: StoreFactory, kind: str
) -> None:
    if kind != "postgres":
        pytest.skip("leases exist on PostgreSQL only")
    from enigma.runs.pg_leases import Leases
    from enigma.runs.pg_store import LeaseLost

    async with stores("w1") as one, stores("w2") as two:
        assert isinstance(one, PgRunStore) and isinstance(two, PgRunStore)
        await one.create(_run("run-a"), None)
        first, second = Leases(one, ttl=0.5), Leases(two, ttl=0.5)
        assert [c[0] for c in await first.claim(5, 5)] == ["run-a"]
        await one.set_status("run-a", "running")
        await asyncio.sleep(0.7)  # w1 is frozen past its lease; w2 takes the run
        assert [c[0] for c in await second.claim(5, 5)] == ["run-a"]
        with pytest.raises(LeaseLost):
            await one.append_event("run-a", "stale.write")
        with pytest.raises(LeaseLost):
            await one.set_status("run-a", "failed")
        lost, _ = await first.renew({"run-a"})
        assert lost == []  # already known as lost: nothing more to renew
        assert (await two.append_event("run-a", "fresh.write")).type == "fresh.write"
        assert [e.type for e in await two.events("run-a")] == ["fresh.write"]
        assert (await two.get("run-a")).status == "running"  # type: ignore[union-attr]


def test_processes_opening_one_new_data_directory_at_once_migrate_it_once(tmp_path: Path) -> None:
    """The service, `enigma runs` and a CLI run may open a fresh data directory together."""
    path = tmp_path / "runs.sqlite3"
    together = threading.Barrier(6)
    failures: list[BaseException] = []

    def open_store() -> None:
        db = connect(path)  # a connection of its own, as another process has
        try:
            together.wait(10)
            migrate(db)
        except BaseException as exc:
            failures.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
