"""The one shape of a kept log: rows that happen, are shown at once and outlive the run.

The event timeline and the audit trail both receive rows one at a time, on the loop, at
any rate (a host's reconnect is a burst of events, a bulk action a burst of changes); both
must show them at once, keep them across runs in the one database (`core/store.py`), stay
within the configured age and size, and answer "what happened since" for the one-shot
line. `Journal` is that shape; an instance says only what its rows are (`ROW`, a frozen
dataclass whose fields are the table's columns, `key` first) and what its `Table` is.

Writes are batched: a row is held in memory and shown at once, and every pending row goes
to the store's thread in one transaction at most every `FLUSH_EVERY` seconds, never one
per row on the loop. The newest `KEEP_IN_MEMORY` rows (the last run's too, read back at
`open`) are what the views show; older ones are read from the database on demand
(`query`). A database that cannot be used (`Store.problem`) costs the history only: rows
are still shown for the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from kvmtui.core.publish import Publisher
from kvmtui.core.store import Store, Table

#: Seconds pending rows wait before they are written, together.
FLUSH_EVERY = 0.5
#: Rows kept in memory for the views, per journal.
KEEP_IN_MEMORY = 5000
#: Seconds between two retention passes (at most; one runs at open).
PRUNE_EVERY = 600.0
#: Of the size allowed, what a retention pass by size brings the database back to: a
#: little under it, so it is not pruned again at every write.
SIZE_HEADROOM = 0.9
#: Retention passes by size at most, each nearer the size allowed.
PRUNE_PASSES = 5
#: Rows written or removed in one transaction at most: a burst's batch is written in
#: pieces, each followed by a look at the size, so the file never grows a burst past its
#: bound, and the WAL (which holds a transaction whole) stays within its own.
CHUNK_ROWS = 250
#: The WAL beside the database, at most (`Store.limit_wal`): an eighth of the size
#: allowed, up to this.
WAL_BYTES = 1024 * 1024


class Row(Protocol):
    """What a journal's rows have: a unique `key`, the moment `at` (epoch seconds) and
    the `words` a filter matches."""

    @property
    def key(self) -> str: ...

    @property
    def at(self) -> float: ...

    @property
    def words(self) -> str: ...


def filter_words(
    guest: str | None = None,
    host: str | None = None,
    kind: str | None = None,
    tag: str | None = None,
) -> tuple[str, ...]:
    """The filter words (`Row.words`) of `--guest NAME[@HOST]`, `--host`, `--type` and
    `--tag`: the one-shot line filters with them, the views put them on their `/` line."""
    words = []
    if guest:
        words.append(f"guest:{guest}" if "@" in guest else f"guest:{guest}@")
    if host:
        words.append(f"host:{host}")
    if kind:
        words.append(f"type:{kind}")
    if tag:
        words.append(f"tag:{tag}")
    return tuple(words)


def matches(row: Row, words: Sequence[str]) -> bool:
    """Whether `row` holds every filter word, as the views' `/` filter matches."""
    text = row.words.lower()
    return all(word.lower() in text for word in words)


R = TypeVar("R", bound=Row)


@dataclass(frozen=True)
class Retention:
    """How much history is kept: rows older than `max_age` seconds go, and the oldest
    rows go while the database is over its share of `max_bytes`: the file on disk and its
    WAL together stay within `max_bytes`."""

    max_age: float = 30 * 86400.0
    max_bytes: int = 64 * 1024 * 1024

    @property
    def wal_bytes(self) -> int:
        """What the WAL may take on disk (`Store.limit_wal`)."""
        return min(WAL_BYTES, self.max_bytes // 8)

    @property
    def rows_bytes(self) -> int:
        """What the rows may take: the rest, less two more WAL's worth for what passes a
        limit before it is looked at (the file grows by a chunk of rows before the size is
        read, the WAL by a transaction before it is checkpointed) and the WAL's index
        file (32 KiB)."""
        return self.max_bytes - 3 * self.wal_bytes


_keys = itertools.count()


def new_key() -> str:
    """A row key unique across runs and across two kvmtuis writing one database."""
    return f"{time.time_ns():x}-{os.getpid():x}-{next(_keys):x}"


_SPAN_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """The moment `--since` means, in epoch seconds: a span back from now (`90s`, `15m`,
    `2h`, `3d`, `1w`, `1h30m`) or an ISO date and time (`2026-12-01 08:00`). ValueError,
    worded for the operator, otherwise."""
    now = time.time() if now is None else now
    words = text.strip().lower().replace(" ", "")
    if words and _SPAN_RE.sub("", words) == "":
        return now - sum(float(n) * _UNIT_SECONDS[u] for n, u in _SPAN_RE.findall(words))
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a span back from now (90s, 15m, 2h, 3d, 1w) "
            "or a date and time (2026-12-01 08:00)"
        ) from None


class Journal(Publisher, Generic[R]):
    """See the module docstring. `publish()` after every row added or changed."""

    #: The rows' class: a frozen dataclass whose fields are the table's columns.
    ROW: ClassVar[type[Any]]
    TABLE: ClassVar[Table]

    def __init__(self, store: Store, retention: Retention | None = None) -> None:
        super().__init__()
        self.store = store
        self.retention = retention or Retention()
        self._rows: deque[R] = deque(maxlen=KEEP_IN_MEMORY)
        self._pending: list[R] = []
        self._changed: dict[str, R] = {}  # rows written before, changed since
        self._flush: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None
        self._pruned_at = 0.0
        self._columns = tuple(f.name for f in fields(self.ROW))

    # ---- what the views and verbs read --------------------------------------------------

    def rows(self) -> list[R]:
        """The newest rows, oldest first (this run's and the last runs')."""
        return list(self._rows)

    async def query(self, since: float | None = None) -> list[R]:
        """Every kept row at or after `since` (all when None), oldest first: what is
        pending is written first. From memory when the database cannot be used."""
        await self.flush()
        where, params = ("WHERE at >= ?", (since,)) if since is not None else ("", ())
        found = await self.store.read(
            f"SELECT {', '.join(self._columns)} FROM {self.TABLE.name} {where} ORDER BY at",
            params,
        )
        if self.store.problem:
            return [r for r in self._rows if since is None or r.at >= since]
        return [self._from_db(tuple(row)) for row in found]

    # ---- what the owner does ------------------------------------------------------------

    async def open(self) -> None:
        """Declares the table, reads the newest rows back and prunes: once, before rows
        come (`Services.open`)."""
        await self.store.add_table(self.TABLE)
        with contextlib.suppress(Exception):  # the store says why in `problem`
            await self.store.limit_wal(self.retention.wal_bytes)
        found = await self.store.read(
            f"SELECT {', '.join(self._columns)} FROM {self.TABLE.name} "
            f"ORDER BY at DESC LIMIT {KEEP_IN_MEMORY}"
        )
        self._rows.extendleft(self._from_db(tuple(row)) for row in found)
        await self.prune()
        if found:
            self.publish()

    def add(self, row: R) -> None:
        """A new row: shown at once, written with the next batch."""
        self._rows.append(row)
        self._pending.append(row)
        self._schedule()
        self.publish()

    def replace(self, rows: Iterable[R]) -> None:
        """Rows changed after they were added (an alert acknowledged): in memory at once,
        in the database with the next batch."""
        by_key = {row.key: row for row in rows}
        if not by_key:
            return
        self._rows = deque((by_key.get(r.key, r) for r in self._rows), maxlen=KEEP_IN_MEMORY)
        self._pending = [by_key.get(r.key, r) for r in self._pending]
        pending = {r.key for r in self._pending}
        self._changed.update((k, row) for k, row in by_key.items() if k not in pending)
        self._schedule()
        self.publish()

    async def flush(self) -> None:
        """Writes what is pending now, in one transaction per kind of statement."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        while self._writing is not None and not self._writing.done():
            await asyncio.shield(self._writing)
        if self._pending or self._changed:
            self._writing = asyncio.ensure_future(self._write())
            await asyncio.shield(self._writing)

    async def close(self) -> None:
        await self.flush()

    # ---- inside -------------------------------------------------------------------------

    def _schedule(self) -> None:
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(FLUSH_EVERY, self._flush_later)

    def _flush_later(self) -> None:
        self._flush = None
        if self._writing is None or self._writing.done():
            self._writing = asyncio.ensure_future(self._write())
        else:
            self._schedule()  # the last batch is still being written: the next one waits

    async def _write(self) -> None:
        pending, self._pending = self._pending, []
        changed, self._changed = list(self._changed.values()), {}
        columns = self._columns
        marks = ", ".join("?" for _ in columns)
        with contextlib.suppress(Exception):  # the store says why in `problem`
            for first in range(0, len(pending), CHUNK_ROWS):
                await self.store.write(
                    f"INSERT OR REPLACE INTO {self.TABLE.name} ({', '.join(columns)}) "
                    f"VALUES ({marks})",
                    [self._to_db(row) for row in pending[first : first + CHUNK_ROWS]],
                )
                if await self.store.size() > self.retention.rows_bytes:
                    await self.prune()
            if changed:
                sets = ", ".join(f"{c} = ?" for c in columns[1:])
                await self.store.write(
                    f"UPDATE {self.TABLE.name} SET {sets} WHERE key = ?",
                    [(*self._to_db(row)[1:], row.key) for row in changed],
                )
            if time.monotonic() - self._pruned_at > PRUNE_EVERY:
                await self.prune()

    async def prune(self) -> None:
        """A retention pass now: rows past the age go; while the rows take more than
        their share of the size (`Retention.rows_bytes`), the oldest of the database go
        too, this journal's and the others' alike (`Store.shrink`, a few passes). Also
        after any write that took the rows past it, so a burst never waits for the next
        pass to be cut back."""
        self._pruned_at = time.monotonic()
        with contextlib.suppress(Exception):  # the store says why in `problem`
            await self.store.prune(
                self.TABLE.name,
                "at",
                older_than=time.time() - self.retention.max_age,
                chunk=CHUNK_ROWS,
            )
            for _ in range(PRUNE_PASSES):
                bound = self.retention.rows_bytes
                if not await self.store.shrink(bound, headroom=SIZE_HEADROOM, chunk=CHUNK_ROWS):
                    break

    def _to_db(self, row: R) -> Sequence[Any]:
        return tuple(getattr(row, column) for column in self._columns)

    def _from_db(self, values: tuple[Any, ...]) -> R:
        """A row as read back: SQLite keeps booleans as 0 and 1."""
        row: R = self.ROW(
            *(
                bool(v) if f.type == "bool" else v
                for f, v in zip(fields(self.ROW), values, strict=True)
            )
        )
        return row
