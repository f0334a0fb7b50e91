"""The append-only event log: one SQLite file, one writer task, a hash chain.

Contract (every backend we might add must keep it; tests/test_eventlog.py is the conformance suite):

* ``seq`` is the global order of events; it is assigned by the single writer, gapless from 1.
* Events are never changed or removed: triggers refuse UPDATE and DELETE.
* Each event's ``hash`` covers its content and the previous event's hash, so :meth:`EventLog.verify`
  finds the first event that was changed, deleted or reordered.
* An event with an ``effect_key`` is stored at most once per run: re-sending it is a no-op that returns
  ``None``. That makes re-sending after a crash safe.
* :meth:`EventLog.append` returns only after the event is committed (WAL, synchronous=NORMAL: durable
  against a killed process; a power cut may lose the last transactions, never corrupt earlier ones).
* One writer: a single task owns the write connection and commits whatever is queued in one
  transaction (group commit). Callers hand it events and await the commit; nobody else writes.
  A lock file keeps a second process from writing the same log at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from storage.errors import (
    DamagedLog,
    GeniusError,
    IntegrityBug,
    NewerSchemaError,
    NotAnEventLog,
    StorageError,
    UserError,
)
from storage.events import Event, StoredEvent, canonical_json, stored_event, upcast

SCHEMA_VERSION = 1
APPLICATION_ID = 0x47454E49  # "GENI"
GENESIS_HASH = "0" * 64
_INF = float("inf")
# JSON string literal exactly as the canonical encoder writes it (ensure_ascii=False).
_js = json.encoder.encode_basestring
DEFAULT_DB = Path("runs") / "genius.sqlite"

_DDL = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    trial INTEGER,
    step INTEGER,
    type TEXT NOT NULL,
    effect_key TEXT,
    schema_version INTEGER NOT NULL,
    ts REAL NOT NULL,
    payload TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_effect_key ON events(run_id, effect_key)
    WHERE effect_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, seq);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the GENIUS event log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the GENIUS event log is append-only: DELETE refused'); END;
"""
# The DDL one statement at a time (executescript would commit the transaction the setup runs in).
_DDL_STATEMENTS = [stmt.strip() + ";" for stmt in _DDL.split(";\n") if stmt.strip()]

_COLUMNS = "seq, run_id, trial, step, type, effect_key, schema_version, ts, payload, hash"
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# Batches up to this many rows go in as one multi-row INSERT: 10 parameters a row stays under 999, the
# smallest parameter limit any SQLite build has had.
_ROWS_PER_STATEMENT = 99


def _insert_sql(rows: int) -> str:
    return f"INSERT INTO events ({_COLUMNS}) VALUES " + ", ".join([_ROW] * rows)


def _guarded_insert_sql(rows: int) -> str:
    """Insert ``rows`` only if the log's last seq is still the one bound last: one statement, so one implicit
    transaction that reads the tail and appends under SQLite's write lock (a compare-and-append)."""
    columns = ", ".join(f"column{i}" for i in range(1, 11))
    return (f"INSERT INTO events ({_COLUMNS}) SELECT {columns} FROM (VALUES " + ", ".join([_ROW] * rows) +
            ") WHERE (SELECT COALESCE(MAX(seq), 0) FROM events) = ?")


def event_hash(
    prev_hash: str,
    seq: int,
    run_id: str,
    trial: int | None,
    step: int | None,
    type_: str,
    effect_key: str | None,
    schema_version: int,
    ts: float,
    payload_text: str,
) -> str:
    """Hash of one event: its content (``seq`` included, so reordering shows) chained to the previous hash.

    The hashed head is ``canonical_json([seq, run_id, trial, step, type, effect_key, schema_version, ts])``;
    it is spelled out here because this runs for every event written and verified (the general encoder costs
    several times more). :func:`_head_reference` is the definition; the tests hold the two equal.
    """
    if type(ts) is not float or ts != ts or ts in (_INF, -_INF):  # rare: let the encoder convert or refuse
        head = canonical_json([seq, run_id, trial, step, type_, effect_key, schema_version, ts])
    else:
        head = (f"[{int(seq)},{_js(run_id)},{'null' if trial is None else int(trial)},"
                f"{'null' if step is None else int(step)},{_js(type_)},"
                f"{'null' if effect_key is None else _js(effect_key)},{int(schema_version)},{float.__repr__(ts)}]")
    return hashlib.sha256(f"{prev_hash}\n{head}\n{payload_text}".encode()).hexdigest()


def _head_reference(seq: int, run_id: str, trial: int | None, step: int | None, type_: str,
                    effect_key: str | None, schema_version: int, ts: float) -> str:
    return canonical_json([seq, run_id, trial, step, type_, effect_key, schema_version, ts])


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    reason: str = ""
    # Runs whose events stop without an ending (finished or interrupted): killed, still running, or their
    # newest events lost. Not a broken chain, so ``ok`` may still be True.
    unended: tuple[str, ...] = ()


@dataclass
class _Pending:
    events: list[Event]
    texts: list[str]  # each event's payload as stored (redacted canonical JSON), made by the caller
    future: asyncio.Future[list[StoredEvent | None]]


BUSY_TIMEOUT_MS = 60_000

# Events whose chain is checked before the first append of a process (a truncated file loses its last pages).
TAIL_CHECKED = 256


def _row_to_event(row: Sequence[Any], path: str = "") -> StoredEvent:
    seq, run_id, trial, step, type_, key, version, ts, payload, hash_ = row
    try:
        decoded = json.loads(payload)
    except (ValueError, TypeError):
        raise DamagedLog(f"{path or 'the log'} is damaged: event {seq} (run {run_id}) cannot be read; see what is "
                         f"intact with: python run_agent.py verify --db {path or 'PATH'}") from None
    return stored_event(seq, type_, run_id, upcast(type_, version, decoded), trial, step, key, version, ts, hash_)


def _map_sqlite_error(exc: BaseException, path: str) -> GeniusError:
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityBug(f"event log constraint violated ({text}); this is a bug, please report it")
    if "file is not a database" in text or "file is encrypted" in text:
        return NotAnEventLog(f"{path} is not a GENIUS event log (not an SQLite file); pass another --db PATH")
    if "database or disk is full" in text:
        return StorageError(f"cannot write {path}: the disk is full; free space and resume the run")
    if "readonly" in text or "read-only" in text:
        return StorageError(f"cannot write {path}: it is read-only; pass a writable --db PATH")
    if "unable to open" in text:
        return StorageError(f"cannot open {path}: {text}; check the path and its permissions")
    return StorageError(f"event log {path}: {text}")


class EventLog:
    """An append-only event log in one SQLite file (or ``:memory:``). Use :meth:`open`."""

    def __init__(self, path: str, conn: aiosqlite.Connection, *, writable: bool) -> None:
        self.path = path
        self._conn = conn
        self._writable = writable
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._last_seq = 0
        self._last_hash = GENESIS_HASH
        self._keys: dict[str, set[str]] = {}  # run_id -> effect keys already stored (loaded lazily)
        self._wrote = False  # whether this process appended anything (it then checkpoints the WAL at close)
        self._closed = False
        self.commits = 0  # write transactions committed by this log (group commit makes it << events)

    # ----------------------------------------------------------------------------------------- opening
    @classmethod
    async def open(cls, path: str | Path = DEFAULT_DB, *, create: bool = True, writable: bool = True) -> EventLog:
        """Open (and with ``create`` make) a log. Idempotent: opening an existing log changes nothing.

        Raises :class:`NotAnEventLog` for a foreign file and :class:`NewerSchemaError` for a log written by a
        newer version of this project.
        """
        spath = str(path)
        memory = spath == ":memory:"
        if not memory:
            p = Path(spath)
            # Checked before sqlite sees the path: a failed connect leaves aiosqlite's thread to report into a
            # closed event loop later, as a stray traceback.
            if p.is_dir():
                raise UserError(f"--db {spath} is a directory; pass the path of a log file, e.g. {p / 'genius.sqlite'}")
            if not p.exists():
                if not create:
                    raise NotAnEventLog(f"no event log at {spath}; pass the --db PATH of an existing log")
                try:
                    p.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise UserError(f"cannot create the directory of --db {spath} ({exc.strerror}); pass another "
                                    "--db PATH") from None
                if not os.access(p.parent, os.W_OK):
                    raise UserError(f"cannot create {spath}: its directory is not writable; pass another --db PATH")
            elif writable and not os.access(p, os.W_OK):
                raise UserError(f"{spath} is read-only; pass another --db PATH, or use a read-only command")
        try:
            # Autocommit: transactions are explicit (see _insert), so a small batch is one statement and one
            # trip to aiosqlite's thread instead of two (execute, then commit).
            conn = await aiosqlite.connect(spath, isolation_level=None)
        except sqlite3.Error as exc:
            raise _map_sqlite_error(exc, spath) from exc
        log = cls(spath, conn, writable=writable)
        try:
            await log._setup(create=create)
        except BaseException:
            await conn.close()
            raise
        return log

    async def _setup(self, *, create: bool) -> None:
        conn = self._conn
        try:
            # Other processes' appends hold the write lock for milliseconds; a generous wait means no user ever sees
            # "database is locked", even with many processes appending at once.
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if self.path != ":memory:":
                await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            if self._writable:
                # Checked and created under the write lock: a process creating the log at the same moment cannot
                # be seen half done (its tables there, its application id not yet).
                await conn.execute("BEGIN IMMEDIATE")
            app_id = (await (await conn.execute("PRAGMA application_id")).fetchone() or (0,))[0]
            version = (await (await conn.execute("PRAGMA user_version")).fetchone() or (0,))[0]
            tables = [r[0] for r in await (await conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")).fetchall()]
        except sqlite3.Error as exc:
            await self._rollback()
            raise _map_sqlite_error(exc, self.path) from exc
        try:
            if tables and app_id != APPLICATION_ID:
                raise NotAnEventLog(
                    f"{self.path} is not a GENIUS event log (it holds other tables: {', '.join(tables[:5])}); "
                    "pass another --db PATH"
                )
            if version > SCHEMA_VERSION:
                raise NewerSchemaError(
                    f"{self.path} was created by a newer version of genius-agent (log schema {version}, this "
                    f"version reads up to {SCHEMA_VERSION}); upgrade genius-agent to read it"
                )
            if not tables and not create:
                raise NotAnEventLog(f"{self.path} is empty, not a GENIUS event log; pass another --db PATH")
            if self._writable:
                for statement in _DDL_STATEMENTS:
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                if version < SCHEMA_VERSION:
                    await conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                await conn.execute("COMMIT")
            row = await (await conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")).fetchone()
        except sqlite3.Error as exc:
            await self._rollback()
            raise _map_sqlite_error(exc, self.path) from exc
        except BaseException:
            await self._rollback()
            raise
        if row is not None:
            self._last_seq, self._last_hash = int(row[0]), str(row[1])

    async def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(Exception):
                await self._conn.execute("ROLLBACK")

    # ----------------------------------------------------------------------------------------- writing
    async def append(self, event: Event) -> StoredEvent | None:
        """Append one event and wait for its commit. ``None`` if its effect key was already stored."""
        return (await self.append_many([event]))[0]

    async def append_many(self, events: Iterable[Event]) -> list[StoredEvent | None]:
        """Append events in order, in one transaction, and wait for the commit.

        A payload JSON cannot hold (NaN, an arbitrary object) raises ``ValueError``/``TypeError`` here, in the
        caller, before anything is queued: one bad event must not fail the group commit of other trials.
        """
        batch = list(events)
        if not batch:
            return []
        if not self._writable:
            raise StorageError(f"{self.path} was opened read-only")
        if self._closed:
            raise StorageError("the event log is closed")
        texts = [ev.payload_text() for ev in batch]
        loop = asyncio.get_running_loop()
        if self._writer is None:
            self._writer = loop.create_task(self._write_loop(), name="eventlog-writer")
        elif self._writer.done():  # never expected; without this check the caller would wait forever
            raise StorageError(f"the writer of {self.path} has stopped; reopen the log")
        future: asyncio.Future[list[StoredEvent | None]] = loop.create_future()
        self._queue.put_nowait(_Pending(batch, texts, future))
        return await future

    async def _load_tail(self) -> None:
        # Until this log held the writer lock another process (or EventLog) may have appended, so the tail
        # read at open() and any effect keys cached since may be stale.
        rows = list(await (await self._conn.execute(
            f"SELECT {_COLUMNS} FROM events ORDER BY seq DESC LIMIT {TAIL_CHECKED + 1}")).fetchall())
        self._check_tail(rows[::-1])
        self._last_seq, self._last_hash = (int(rows[0][0]), str(rows[0][9])) if rows else (0, GENESIS_HASH)
        self._keys.clear()

    def _check_tail(self, rows: Sequence[Sequence[Any]]) -> None:
        """Refuse to append after a damaged end (a file cut short, a lost WAL): the newest TAIL_CHECKED events
        (a few pages of the file) must decode and chain to each other. The full check is ``verify``."""
        if not rows:
            return
        prev = GENESIS_HASH if int(rows[0][0]) == 1 else str(rows[0][9])
        checked = rows if int(rows[0][0]) == 1 else rows[1:]
        expected = int(checked[0][0]) if checked else 0
        for seq, run_id, trial, step, type_, key, version, ts, payload, stored in checked:
            try:
                json.loads(payload)
                intact = seq == expected and event_hash(
                    prev, seq, run_id, trial, step, type_, key, version, ts, payload) == stored
            except (ValueError, TypeError):
                intact = False
            if not intact:
                raise DamagedLog(f"{self.path} is damaged near its end (event {seq}); nothing more is appended to "
                                 f"it. See what is intact with: python run_agent.py verify --db {self.path}; then "
                                 "restore a copy or pass another --db PATH")
            prev, expected = stored, seq + 1

    async def _write_loop(self) -> None:
        tail_loaded = False
        while True:
            first = await self._queue.get()
            if first is None:
                return
            pending = [first]
            stop = False
            while not self._queue.empty() and len(pending) < 4096:
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                pending.append(item)
            try:
                if not tail_loaded:
                    await self._load_tail()
                    tail_loaded = True
                results = await self._write(pending)
            except BaseException as exc:  # every waiter learns of the failure; nothing is retried here
                error = exc if isinstance(exc, GeniusError) else _map_sqlite_error(exc, self.path)
                for p in pending:
                    if not p.future.done():
                        p.future.set_exception(error)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                for p, r in zip(pending, results, strict=True):
                    if not p.future.done():
                        p.future.set_result(r)
            if stop:
                return

    async def _load_keys(self, run_ids: set[str]) -> None:
        for run_id in run_ids - self._keys.keys():
            rows = await (await self._conn.execute(
                "SELECT effect_key FROM events WHERE run_id=? AND effect_key IS NOT NULL", (run_id,)
            )).fetchall()
            self._keys[run_id] = {r[0] for r in rows}

    async def _write(self, pending: list[_Pending]) -> list[list[StoredEvent | None]]:
        await self._load_keys({ev.run_id for p in pending for ev in p.events if ev.effect_key is not None})
        # Several processes may append to one log. The chain continues from the tail this writer last saw; the
        # append happens only if that is still the tail (checked inside the transaction that appends), else the
        # rows are chained again from the new tail. One process alone pays one statement per commit.
        while True:
            rows, plan, new_keys, seq, prev = self._chain(pending, self._last_seq, self._last_hash)
            if not rows:
                return [[None] * len(idx) for idx in plan]
            if await self._append_if_tail(rows, self._last_seq):
                break
            await self._reload_tail()
        self._wrote = True
        stored = [stored_event(r[0], r[4], r[1], json.loads(r[8]), r[2], r[3], r[5], r[6], r[7], r[9]) for r in rows]
        self.commits += 1
        self._last_seq, self._last_hash = seq, prev
        for run_id, key in new_keys:
            self._keys[run_id].add(key)
        return [[stored[i] if i >= 0 else None for i in idx] for idx in plan]

    def _chain(self, pending: list[_Pending], seq: int, prev: str) -> tuple[
            list[tuple[Any, ...]], list[list[int]], list[tuple[str, str]], int, str]:
        """The rows for ``pending`` chained after (``seq``, ``prev``): rows, per batch the row index of each
        event (-1 for a duplicate effect key), the new keys, and the new tail."""
        rows: list[tuple[Any, ...]] = []
        new_keys: list[tuple[str, str]] = []
        plan: list[list[int]] = []
        batch_keys: set[tuple[str, str]] = set()
        keys = self._keys
        for p in pending:
            idx: list[int] = []
            for ev, text in zip(p.events, p.texts, strict=True):
                run_id, key = ev.run_id, ev.effect_key
                if key is not None:
                    k = (run_id, key)
                    if key in keys[run_id] or k in batch_keys:
                        idx.append(-1)
                        continue
                    batch_keys.add(k)
                    new_keys.append(k)
                seq += 1
                h = event_hash(prev, seq, run_id, ev.trial, ev.step, ev.type, key, ev.schema_version, ev.ts, text)
                idx.append(len(rows))
                rows.append((seq, run_id, ev.trial, ev.step, ev.type, key, ev.schema_version, ev.ts, text, h))
                prev = h
            plan.append(idx)
        return rows, plan, new_keys, seq, prev

    async def _append_if_tail(self, rows: list[tuple[Any, ...]], tail: int) -> bool:
        """Insert ``rows`` in one transaction if the log's last seq is still ``tail``; False if it is not."""
        if len(rows) <= _ROWS_PER_STATEMENT:
            cur = await self._conn.execute(_guarded_insert_sql(len(rows)), [*(v for r in rows for v in r), tail])
            return bool(cur.rowcount == len(rows))
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            row = await (await self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events")).fetchone()
            if row is None or int(row[0]) != tail:
                await self._conn.execute("ROLLBACK")
                return False
            for start in range(0, len(rows), _ROWS_PER_STATEMENT):
                chunk = rows[start:start + _ROWS_PER_STATEMENT]
                await self._conn.execute(_insert_sql(len(chunk)), [v for r in chunk for v in r])
            await self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                await self._conn.execute("ROLLBACK")
            raise
        return True

    async def _reload_tail(self) -> None:
        row = await (await self._conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")).fetchone()
        self._last_seq, self._last_hash = (int(row[0]), str(row[1])) if row is not None else (0, GENESIS_HASH)

    # ----------------------------------------------------------------------------------------- reading
    async def read(self, run_id: str | None = None, *, after_seq: int = 0) -> list[StoredEvent]:
        """Committed events in ``seq`` order, for one run or all, payloads upcast to the current version."""
        try:
            if run_id is None:
                cur = await self._conn.execute(
                    f"SELECT {_COLUMNS} FROM events WHERE seq > ? ORDER BY seq", (after_seq,))
            else:
                cur = await self._conn.execute(
                    f"SELECT {_COLUMNS} FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
                    (run_id, after_seq))
            rows = await cur.fetchall()
        except sqlite3.Error as exc:
            raise _map_sqlite_error(exc, self.path) from exc
        return [_row_to_event(r, self.path) for r in rows]

    async def run_ids(self) -> list[str]:
        """Run ids in the order the runs were created."""
        cur = await self._conn.execute(
            "SELECT run_id FROM events WHERE type = 'run.created' ORDER BY seq")
        return [r[0] for r in await cur.fetchall()]

    async def has_run(self, run_id: str) -> bool:
        cur = await self._conn.execute(
            "SELECT 1 FROM events WHERE run_id = ? AND type = 'run.created' LIMIT 1", (run_id,))
        return await cur.fetchone() is not None

    async def verify(self) -> VerifyReport:
        """Recompute the hash chain; report the first event that was changed, deleted or reordered."""
        prev, expected_seq, count = GENESIS_HASH, 1, 0
        open_runs: dict[str, None] = {}  # runs started and not (yet) ended, in order
        cur = await self._conn.execute(f"SELECT {_COLUMNS} FROM events ORDER BY seq")
        while True:
            rows = await cur.fetchmany(4096)
            if not rows:
                break
            for seq, run_id, trial, step, type_, key, version, ts, payload, stored in rows:
                count += 1
                if seq != expected_seq:
                    return VerifyReport(False, count, expected_seq,
                                        f"seq {expected_seq} is missing (next stored seq is {seq})")
                if event_hash(prev, seq, run_id, trial, step, type_, key, version, ts, payload) != stored:
                    return VerifyReport(False, count, seq,
                                        f"seq {seq} does not match its hash (changed, or an earlier event was)")
                prev, expected_seq = stored, seq + 1
                if type_ == "run.created":
                    open_runs[run_id] = None
                elif type_ in ("run.finished", "run.interrupted"):
                    open_runs.pop(run_id, None)
                elif type_ == "run.started":
                    open_runs[run_id] = None
        return VerifyReport(True, count, unended=tuple(open_runs))

    # ----------------------------------------------------------------------------------------- closing
    async def close(self) -> None:
        """Flush queued appends, stop the writer and close the connection. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._wrote and self.path != ":memory:":
            # Move what this process wrote from the -wal file into the log itself, so that a run that ended or
            # was interrupted lives in one file (a lost or cut -wal would otherwise take its newest events).
            with contextlib.suppress(sqlite3.Error):
                await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await self._conn.close()

    async def __aenter__(self) -> EventLog:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
