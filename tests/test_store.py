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


async def test_prune_removes_the_rows_past_their_age() -> None:
    store = Store(None)
    await store.open([EVENTS])
    now = time.time()
    await store.write(
        "INSERT INTO events VALUES (?, ?)", [(now - 100 + i, str(i)) for i in range(10)]
    )
    assert await store.prune("events", "at", older_than=now - 95, chunk=2) == 5
    rows = await store.read("SELECT text FROM events ORDER BY at")
    assert [r[0] for r in rows] == ["5", "6", "7", "8", "9"]
    await store.close()


async def test_shrink_takes_the_oldest_rows_of_the_database_whichever_table() -> None:
    """Two kept logs on one file, one far busier: over the size, both keep the same
    newest span of time (the quiet one is not left holding the whole file), and a table
    declared without a time column (the backup catalogue) loses nothing."""
    busy = Table("busy", 1, ("CREATE TABLE busy (at REAL, text TEXT)",), time_column="at")
    quiet = Table("quiet", 1, ("CREATE TABLE quiet (at REAL, text TEXT)",), time_column="at")
    points = Table("points", 1, ("CREATE TABLE points (at REAL, text TEXT)",))
    store = Store(None)
    await store.open([busy, quiet, points])
    pad = "x" * 200
    await store.write("INSERT INTO busy VALUES (?, ?)", [(i, pad) for i in range(6000)])
    await store.write("INSERT INTO quiet VALUES (?, ?)", [(i, pad) for i in range(0, 6000, 6)])
    await store.write("INSERT INTO points VALUES (?, ?)", [(i, pad) for i in range(10)])
    size = await store.size()
    assert await store.shrink(size // 2, headroom=0.9, chunk=250) > 0
    assert await store.size() < size * 0.6
    oldest = [
        (await store.read(f"SELECT min(at), count(*) FROM {t}"))[0] for t in ("busy", "quiet")
    ]
    assert abs(oldest[0][0] - oldest[1][0]) <= 6 and oldest[1][1] > 400
    assert (await store.read("SELECT count(*) FROM points"))[0][0] == 10
    assert await store.shrink(size, headroom=0.9) == 0  # within: nothing goes
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
