"""kvmtui's own memory: one SQLite database for what must outlive a run.

The event timeline, the audit trail and the backup catalogue are rows kvmtui keeps across
runs and crashes, on a jump box that may have two kvmtuis open at once. They share one
database file under the XDG state directory (`$XDG_STATE_HOME/kvmtui/kvmtui.db`), in WAL
mode, so a reader never waits for a writer and a crash loses at most the last transaction.

Each owner of rows declares its `Table` (the statements that create it and a version), and
the store applies them once. Every statement runs on the store's own thread, never on the
event loop. The database is bounded: `prune` removes a table's rows by age and `shrink`
the oldest rows of the database by size, which the owners call on their own schedule,
and `limit_wal` keeps the WAL beside it small, so the file and its WAL together stay
within what the owners allow.

A database that cannot be used (locked past the timeout, corrupt, on a full disk, a
directory that cannot be written) never stops kvmtui: the store says why in `problem`, one
line naming the file, drops writes and answers reads with nothing, so kvmtui runs on without
history and says so. A statement that succeeds again (the lock released, space freed)
clears `problem`; a file that would not open stays unused for the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from platformdirs import user_state_dir

T = TypeVar("T")

FILE_NAME = "kvmtui.db"
#: Milliseconds a statement waits for another process's write before it gives up.
BUSY_TIMEOUT_MS = 3000


def default_path() -> Path:
    """`$XDG_STATE_HOME/kvmtui/kvmtui.db` (~/.local/state/kvmtui/kvmtui.db)."""
    return Path(user_state_dir("kvmtui")) / FILE_NAME


@dataclass(frozen=True)
class Table:
    """What one owner of rows needs in the database.

    `statements` create the table and its indexes (`CREATE ... IF NOT EXISTS`); a new
    `version` with more statements appends them (an `ALTER TABLE ... ADD COLUMN`), never
    rewriting the old ones, so a database written by an older kvmtui opens in a newer one.
    """

    name: str
    version: int
    statements: tuple[str, ...]
    #: The column of each row's moment (epoch seconds) when the oldest rows may go to keep
    #: the database within its size (`Store.shrink`); "" for rows kept whatever the size
    #: (the backup catalogue).
    time_column: str = ""


class StoreError(Exception):
    """The database cannot be used; the message names the file and says why."""


class Store:
    """See the module docstring. `path=None` keeps the rows in memory only (tests, and
    `--no-history`)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        #: Why the database cannot be used, or "" while it can.
        self.problem = ""
        self._db: sqlite3.Connection | None = None
        self._tables: dict[str, Table] = {}
        # One thread: sqlite3 connections are not shared between threads, and statements
        # from one process then never contend with each other.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="kvmtui-store")
        self._lock = threading.Lock()

    # ---- opening -------------------------------------------------------------------------

    async def open(self, tables: Iterable[Table] = ()) -> None:
        """Opens the file (creating its directory) and applies `tables`; a failure becomes
        `problem`, never an exception."""
        for table in tables:
            self._tables[table.name] = table
        with contextlib.suppress(StoreError):
            await self._call(self._open_sync)

    def _open_sync(self) -> None:
        if self._db is None:
            target = ":memory:"
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                target = str(self.path)
            db = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS kvmtui_tables (name TEXT PRIMARY KEY, version INTEGER)"
            )
            db.commit()
            self._db = db
        for table in self._tables.values():
            self._apply(self._db, table)

    @staticmethod
    def _apply(db: sqlite3.Connection, table: Table) -> None:
        row = db.execute(
            "SELECT version FROM kvmtui_tables WHERE name = ?", (table.name,)
        ).fetchone()
        if row is not None and row[0] >= table.version:
            return
        with db:
            for statement in table.statements:
                try:
                    db.execute(statement)
                except sqlite3.OperationalError as error:
                    if "duplicate column" not in str(error):  # an ALTER applied before
                        raise
            db.execute(
                "INSERT OR REPLACE INTO kvmtui_tables (name, version) VALUES (?, ?)",
                (table.name, table.version),
            )

    async def add_table(self, table: Table) -> None:
        """A table declared after `open` (an owner started later)."""
        await self.open([table])

    # ---- statements ----------------------------------------------------------------------

    async def write(self, sql: str, rows: Sequence[Sequence[Any]] | Sequence[Any] = ()) -> None:
        """One statement, or one per row when `rows` is a sequence of sequences, in one
        transaction. Dropped while unusable (`problem` says why)."""

        def run(db: sqlite3.Connection) -> None:
            with db:
                if rows and isinstance(rows[0], list | tuple):
                    db.executemany(sql, rows)
                else:
                    db.execute(sql, rows)

        await self._call(lambda: self._with_db(run, None))

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows a query finds; none while the database is unusable."""
        return await self._call(
            lambda: self._with_db(lambda db: db.execute(sql, params).fetchall(), [])
        )

    async def prune(
        self, table: str, time_column: str, *, older_than: float, chunk: int = 1000
    ) -> int:
        """Removes the rows of `table` whose `time_column` (seconds since the epoch) is below
        `older_than`, the oldest first, `chunk` to a transaction: the WAL holds a
        transaction whole, and stays small however many go. How many went."""
        if table not in self._tables:
            raise StoreError(f"no table {table!r} in the store")
        return await self._call(
            lambda: self._with_db(
                lambda db: self._delete_before(db, table, time_column, older_than, chunk), 0
            )
        )

    async def shrink(self, bound: int, *, headroom: float, chunk: int = 1000) -> int:
        """When the rows take more than `bound` bytes, removes the oldest rows of the tables
        declared with a `time_column`, whichever table holds them, until about `headroom`
        of `bound` is left (by count: one pass; deleting rows frees whole pages only). One
        moment cuts every table, so the event timeline and the audit trail keep the same
        span of time, and neither is emptied for the other. How many went."""
        tables = [t for t in self._tables.values() if t.time_column]

        def run(db: sqlite3.Connection) -> int:
            size = self._size(db)
            if size <= bound or not tables:
                return 0
            moments = " UNION ALL ".join(
                f"SELECT {t.time_column} AS at FROM {t.name}" for t in tables
            )
            count = db.execute(f"SELECT count(*) FROM ({moments})").fetchone()[0]
            drop = count - int(count * bound / size * headroom)
            if drop <= 0:
                return 0
            (cut,) = db.execute(
                f"SELECT at FROM ({moments}) ORDER BY at LIMIT 1 OFFSET ?", (drop - 1,)
            ).fetchone()
            return sum(
                self._delete_before(db, t.name, t.time_column, math.nextafter(cut, math.inf), chunk)
                for t in tables
            )

        return await self._call(lambda: self._with_db(run, 0))

    @staticmethod
    def _delete_before(
        db: sqlite3.Connection, table: str, time_column: str, before: float, chunk: int
    ) -> int:
        removed = 0
        while True:
            with db:
                gone = db.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                    f"WHERE {time_column} < ? ORDER BY {time_column} LIMIT ?)",
                    (before, chunk),
                ).rowcount
            removed += gone
            if gone < chunk:
                return removed

    @staticmethod
    def _size(db: sqlite3.Connection) -> int:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        page = db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * page)

    async def size(self) -> int:
        """Bytes the database holds (pages in use), for retention by size."""
        return await self._call(lambda: self._with_db(self._size, 0))

    async def limit_wal(self, wal_bytes: int) -> None:
        """Keeps the write-ahead log near `wal_bytes` on disk: checkpointed once it holds
        that much, and cut back to it after. SQLite's own default (4 MB, never cut back)
        would be a tenth of the database beside it, counted by nobody."""

        def run(db: sqlite3.Connection) -> None:
            page = db.execute("PRAGMA page_size").fetchone()[0]
            db.execute(f"PRAGMA wal_autocheckpoint = {max(1, wal_bytes // page)}")
            db.execute(f"PRAGMA journal_size_limit = {int(wal_bytes)}")

        await self._call(lambda: self._with_db(run, None))

    async def close(self) -> None:
        def run() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await self._call(run)
        self._thread.shutdown(wait=False)

    # ---- the one thread and the one failure path -----------------------------------------

    def _with_db(self, work: Callable[[sqlite3.Connection], T], unusable: T) -> T:
        with self._lock:
            if self._db is None:
                return unusable
            try:
                result = work(self._db)
            except sqlite3.Error as error:  # locked, full disk: may pass, so try next time
                self._fail(error)
                return unusable
            self.problem = ""
            return result

    async def _call(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, work)
        except (sqlite3.Error, OSError) as error:
            self._fail(error)
            raise StoreError(self.problem) from error

    def _fail(self, error: BaseException) -> None:
        where = self.path if self.path is not None else "memory"
        text = str(error) or type(error).__name__
        if isinstance(error, sqlite3.DatabaseError) and "not a database" in text:
            text = "the file is corrupt (not an SQLite database); move it aside to start anew"
        self.problem = f"history database {where}: {text}; kvmtui runs without history"
