"""The one SQLite database: kept across runs, bounded, and never a reason to stop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kvmtui.core.store import Store, Table

EVENTS = Table(
    "events",
    1,
    ("CREATE TABLE IF NOT EXISTS events (at REAL, text TEXT)",),
)
EVENTS_V2 = Table("events", 2, (*EVENTS.statements, "ALTER TABLE events ADD COLUMN host TEXT"))


async def test_rows_survive_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "kvmtui.db"
    first = Store(path)
    await first.open([EVENTS])
    await first.write("INSERT INTO events VALUES (?, ?)", [(1.0, "a"), (2.0, "b")])
    await first.close()

    second = Store(path)
    await second.open([EVENTS_V2])  # a newer kvmtui adds a column to the old file
    await second.write("INSERT INTO events VALUES (?, ?, ?)", (3.0, "c", "kvm1"))
    rows = await second.read("SELECT text, host FROM events ORDER BY at")
    assert [tuple(r) for r in rows] == [("a", None), ("b", None), ("c", "kvm1")]
    wal = await second.read("PRAGMA journal_mode")
    assert wal[0][0] == "wal"
    await second.close()


async def test_prune_keeps_the_newest_rows_by_age_and_count() -> None:
    store = Store(None)
    await store.open([EVENTS])
    now = time.time()
    await store.write(
        "INSERT INTO events VALUES (?, ?)", [(now - 100 + i, str(i)) for i in range(10)]
    )
    assert await store.prune("events", "at", older_than=now - 95) == 5
    assert await store.prune("events", "at", keep_rows=2) == 3
    rows = await store.read("SELECT text FROM events ORDER BY at")
    assert [r[0] for r in rows] == ["8", "9"]
    await store.close()


async def test_a_corrupt_file_leaves_kvmtui_running_without_history(tmp_path: Path) -> None:
    path = tmp_path / "kvmtui.db"
    path.write_bytes(b"this is not a database at all" * 100)
    store = Store(path)
    await store.open([EVENTS])
    assert "corrupt" in store.problem and str(path) in store.problem
    await store.write("INSERT INTO events VALUES (?, ?)", (1.0, "lost"))
    assert await store.read("SELECT * FROM events") == []
    await store.close()


async def test_a_directory_that_cannot_be_made_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = Store(blocker / "kvmtui.db")
    await store.open([EVENTS])
    assert store.problem.startswith(f"history database {blocker / 'kvmtui.db'}:")
    assert await store.size() == 0
    await store.close()


@pytest.mark.parametrize("rows", [0, 500])
async def test_size_grows_with_rows(rows: int) -> None:
    store = Store(None)
    await store.open([EVENTS])
    empty = await store.size()
    await store.write("INSERT INTO events VALUES (?, ?)", [(i, "x" * 200) for i in range(rows)])
    assert (await store.size() > empty) == bool(rows)
    await store.close()
