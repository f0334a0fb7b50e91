"""Conformance suite of the event log (storage/log.py): real SQLite files, and ``:memory:`` where it suffices.

Every backend we might add must pass these. Nothing here asserts on wall-clock time: hangs are caught by
``asyncio.wait_for`` guards, everything else is counts, limits and results.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from storage import (
    Event,
    EventLog,
    IntegrityBug,
    NewerSchemaError,
    NotAnEventLog,
    StorageError,
    StoredEvent,
)
from storage.events import stored_event
from storage.log import GENESIS_HASH, SCHEMA_VERSION, _head_reference, event_hash
from storage.redact import REDACTED

RUN = "run-a"


def ev(
    type_: str = "effect.completed",
    payload: dict[str, Any] | None = None,
    *,
    run: str = RUN,
    trial: int | None = 0,
    step: int | None = None,
    key: str | None = None,
    ts: float = 1_700_000_000.0,
) -> Event:
    payload = dict(payload if payload is not None else {})
    if type_ == "effect.completed":  # the log's tests use it as a plain event; its payload type needs a kind
        payload.setdefault("kind", "evaluate")
    return Event(type=type_, run_id=run, payload=payload, trial=trial, step=step, effect_key=key, ts=ts)


def numbered(n: int, *, run: str = RUN, start: int = 1) -> list[Event]:
    """``n`` distinct events whose payload says their position."""
    return [ev("effect.completed", {"kind": "evaluate", "ok": {"i": i, "arch": [i, i + 1]}}, run=run, step=i)
            for i in range(start, start + n)]


async def guarded(coro: Any, seconds: float = 30.0) -> Any:
    """Await with a hang guard (generous: the machine is noisy; we check that it returns, not how fast)."""
    return await asyncio.wait_for(coro, seconds)


def raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def tamper(path: Path, *statements: str) -> None:
    """Change the file behind the log's back, the way an attacker with the plain sqlite3 module would."""
    con = sqlite3.connect(path)
    try:
        con.execute("DROP TRIGGER events_no_update")
        con.execute("DROP TRIGGER events_no_delete")
        for sql in statements:
            con.execute(sql)
        con.commit()
    finally:
        con.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "log.sqlite"


async def write_log(path: Path, n: int = 10) -> None:
    async with await EventLog.open(path) as log:
        await log.append(ev("run.created", {"config": {"space": "nb201"}}, trial=None))
        await log.append_many(numbered(n - 1))


# ------------------------------------------------------------------------------------------ append and read
@pytest.mark.parametrize("where", ["file", "memory"])
async def test_append_read_order_gapless_round_trip(tmp_path: Path, where: str) -> None:
    path = tmp_path / "log.sqlite" if where == "file" else ":memory:"
    payloads = [
        {"kind": "evaluate", "unicode": "Größe ✓ 模型", "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}}},
        {"kind": "evaluate", "float": 0.1 + 0.2, "big": 2**62, "neg": -3,
         "text": 'quote " and \\ backslash\nnewline'},
        {"kind": "evaluate"},
    ]
    async with await EventLog.open(path) as log:
        first = await log.append(ev("run.created", {"config": {"space": "nb201", "seed": 7}}, trial=None))
        many = await log.append_many([ev("effect.completed", p, step=i) for i, p in enumerate(payloads)])
        more = await log.append_many(numbered(5))
        assert await log.append_many([]) == []
        stored = [first, *many, *more]
        assert all(isinstance(s, StoredEvent) for s in stored)
        assert [s.seq for s in stored if s] == list(range(1, 10))
        back = await log.read()
        assert back == stored  # what append returned is exactly what is read back
        assert [e.payload for e in back[1:4]] == payloads
        assert back[0].payload == {"config": {"space": "nb201", "seed": 7}}
        assert [e.seq for e in await log.read(after_seq=6)] == [7, 8, 9]
        assert (await log.verify()).ok
    if where == "file":  # and it survives closing
        async with await EventLog.open(path) as log:
            assert await log.read() == stored
            nxt = await log.append(ev(step=99))
            assert nxt is not None and nxt.seq == 10
            assert (await log.verify()).ok


async def test_large_batches(db: Path) -> None:
    async with await EventLog.open(db) as log:
        for size in (1, 99, 100, 1000, 5000):  # one statement up to 99 rows, a transaction above
            out = await log.append_many(numbered(size))
            assert len(out) == size and all(o is not None for o in out)
        assert log.commits == 5
        events = await log.read()
        assert [e.seq for e in events] == list(range(1, 6201))
        assert (await log.verify()).ok


async def test_read_by_run_and_run_ids(db: Path) -> None:
    async with await EventLog.open(db) as log:
        for run in ["r2", "r1", "r3"]:
            await log.append(ev("run.created", {"config": {}}, run=run, trial=None))
        # Interleaved appends of three runs.
        for i in range(6):
            await log.append(ev(step=i, run=["r1", "r2", "r3"][i % 3], payload={"i": i}))
        assert await log.run_ids() == ["r2", "r1", "r3"]  # creation order, not name order
        r1 = await log.read("r1")
        assert [e.run_id for e in r1] == ["r1"] * 3
        assert [e.payload.get("i") for e in r1] == [None, 0, 3]
        assert [e.seq for e in r1] == sorted(e.seq for e in r1)
        assert await log.read("nope") == []
        assert await log.has_run("r3") and not await log.has_run("nope")


async def test_open_is_idempotent_and_persists_pragmas(db: Path) -> None:
    await write_log(db, 3)
    await write_log(db, 3)  # opening again changes nothing but appends
    assert raw(db, "PRAGMA journal_mode")[0][0] == "wal"
    assert raw(db, "PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert raw(db, "SELECT count(*) FROM events")[0][0] == 6
    async with await EventLog.open(db) as log:
        assert (await log.verify()).ok


# ------------------------------------------------------------------------------------------ the hash chain
async def test_verify_intact(db: Path) -> None:
    await write_log(db, 25)
    async with await EventLog.open(db, writable=False) as log:
        report = await log.verify()
    assert report.ok and report.events == 25 and report.first_bad_seq is None


async def test_verify_empty_log(db: Path) -> None:
    async with await EventLog.open(db) as log:
        report = await log.verify()
    assert report.ok and report.events == 0


@pytest.mark.parametrize(
    ("statements", "first_bad"),
    [
        pytest.param(["UPDATE events SET payload = '{\"kind\":\"evaluate\",\"ok\":{\"i\":99}}' WHERE seq = 5"], 5,
                     id="payload-changed"),
        pytest.param(["UPDATE events SET type = 'attempt.rejected' WHERE seq = 4"], 4, id="type-changed"),
        pytest.param(["UPDATE events SET ts = ts + 1 WHERE seq = 8"], 8, id="timestamp-changed"),
        pytest.param(["UPDATE events SET trial = 3 WHERE seq = 2"], 2, id="trial-changed"),
        pytest.param(["DELETE FROM events WHERE seq = 6"], 6, id="middle-row-deleted"),
        pytest.param(["DELETE FROM events WHERE seq = 1"], 1, id="first-row-deleted"),
        # Same seq, other content, and the original hash kept so the next link still matches it.
        pytest.param(["CREATE TEMP TABLE keep AS SELECT * FROM events WHERE seq = 3",
                      "DELETE FROM events WHERE seq = 3",
                      "INSERT INTO events SELECT seq, run_id, trial, step, type, effect_key, schema_version, ts, "
                      "'{\"forged\":true}', hash FROM keep"], 3, id="deleted-and-reinserted"),
        pytest.param(["CREATE TEMP TABLE p AS SELECT seq, payload FROM events WHERE seq IN (4, 7)",
                      "UPDATE events SET payload = (SELECT payload FROM p WHERE p.seq = 7) WHERE seq = 4",
                      "UPDATE events SET payload = (SELECT payload FROM p WHERE p.seq = 4) WHERE seq = 7"], 4,
                     id="payloads-swapped"),
        pytest.param(["UPDATE events SET seq = -1 WHERE seq = 4", "UPDATE events SET seq = 4 WHERE seq = 7",
                      "UPDATE events SET seq = 7 WHERE seq = -1"], 4, id="rows-reordered"),
        pytest.param(["UPDATE events SET hash = '" + "f" * 64 + "' WHERE seq = 9"], 9, id="hash-changed"),
    ],
)
async def test_verify_names_first_tampered_seq(db: Path, statements: list[str], first_bad: int) -> None:
    await write_log(db, 10)
    tamper(db, *statements)
    async with await EventLog.open(db, writable=False) as log:
        report = await log.verify()
    assert not report.ok
    assert report.first_bad_seq == first_bad
    assert str(first_bad) in report.reason


async def test_update_and_delete_refused_by_triggers(db: Path) -> None:
    await write_log(db, 5)
    con = sqlite3.connect(db)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("UPDATE events SET payload = '{}' WHERE seq = 2")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("DELETE FROM events WHERE seq = 5")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("DELETE FROM events")
        con.rollback()
    finally:
        con.close()
    assert raw(db, "SELECT count(*) FROM events")[0][0] == 5
    async with await EventLog.open(db) as log:
        assert (await log.verify()).ok


# ------------------------------------------------------------------------------------------ idempotence
async def test_effect_key_in_one_batch(db: Path) -> None:
    async with await EventLog.open(db) as log:
        out = await log.append_many([ev(key="k1", payload={"v": 1}), ev(key="k1", payload={"v": 2}),
                                     ev(key="k2"), ev(payload={"unkeyed": 1}), ev(payload={"unkeyed": 1})])
        assert [o.seq if o else None for o in out] == [1, None, 2, 3, 4]  # unkeyed events are never deduped
        assert (await log.read())[0].payload == {"kind": "evaluate", "v": 1}  # the first one wins
        assert (await log.verify()).ok


async def test_effect_key_across_batches_runs_and_reopen(db: Path) -> None:
    async with await EventLog.open(db) as log:
        assert await log.append(ev(key="k", payload={"v": 1})) is not None
        assert await log.append(ev(key="k", payload={"v": 1})) is None
        assert await log.append(ev(key="k", payload={"v": 1}, run="other")) is not None  # keys are per run
    # "After a crash": a new process re-sends what it is not sure was committed.
    async with await EventLog.open(db) as log:
        out = await log.append_many([ev(key="k", payload={"v": 1}), ev(key="new")])
        assert out[0] is None and out[1] is not None and out[1].seq == 3
        assert await log.append(ev(key="new")) is None
        assert (await log.verify()).ok
    assert raw(db, "SELECT run_id, effect_key FROM events ORDER BY seq") == [
        (RUN, "k"), ("other", "k"), (RUN, "new")]


async def test_concurrent_senders_of_the_same_key(db: Path) -> None:
    async with await EventLog.open(db) as log:
        out = await guarded(asyncio.gather(*(log.append(ev(key="same", payload={"n": i})) for i in range(20))))
        assert sum(o is not None for o in out) == 1
        assert len(await log.read()) == 1


# ------------------------------------------------------------------------------------------ one writer
async def test_64_concurrent_trials_through_one_writer(db: Path) -> None:
    trials, per_trial = 64, 50
    async with await EventLog.open(db) as log:
        await log.append(ev("run.created", {"config": {}}, trial=None))

        async def trial(t: int) -> None:
            for i in range(per_trial):
                stored = await log.append(ev(trial=t, step=i, key=f"t{t}/s{i}", payload={"t": t, "i": i}))
                assert stored is not None
                await asyncio.sleep(0)

        await guarded(asyncio.gather(*(trial(t) for t in range(trials))), 120)
        events = await log.read()
        assert len(events) == 1 + trials * per_trial
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        for t in range(trials):  # each trial's own order is kept
            assert [e.payload["i"] for e in events if e.trial == t] == list(range(per_trial))
        assert 0 < log.commits <= trials * per_trial // 8, log.commits  # one transaction per many events
        assert (await log.verify()).ok


async def test_two_writers_share_one_log_and_keep_one_chain(db: Path) -> None:
    # Several processes may append to one log (each its own runs): SQLite's write lock orders the transactions and
    # each continues the chain from the tail it finds inside its own.
    first = await EventLog.open(db)
    second = await EventLog.open(db)
    try:
        await first.append_many(numbered(3))
        assert len(await second.read()) == 3  # reading alongside a writer is fine
        stored = await second.append(ev(step=10))
        assert stored is not None and stored.seq == 4
        await first.append(ev(step=11))
        again = await second.append(ev(step=12))
        assert again is not None and again.seq == 6
        assert [e.seq for e in await first.read()] == [1, 2, 3, 4, 5, 6]
        assert (await first.verify()).ok
    finally:
        await first.close()
        await second.close()


async def test_read_only_log_refuses_appends(db: Path) -> None:
    await write_log(db, 2)
    async with await EventLog.open(db, writable=False) as log:
        with pytest.raises(StorageError, match="read-only"):
            await log.append(ev())
        assert len(await log.read()) == 2


async def test_closed_log_refuses_appends_and_close_flushes(db: Path) -> None:
    log = await EventLog.open(db)
    pending = [asyncio.ensure_future(log.append(ev(step=i))) for i in range(10)]
    await asyncio.sleep(0)
    await log.close()
    await log.close()  # safe twice
    assert all(p.result() is not None for p in pending)
    with pytest.raises(StorageError, match="closed"):
        await log.append(ev())
    assert raw(db, "SELECT count(*) FROM events")[0][0] == 10


async def test_bad_payload_fails_its_caller_only(db: Path) -> None:
    async with await EventLog.open(db) as log:
        good = [asyncio.ensure_future(log.append(ev(step=i))) for i in range(5)]
        with pytest.raises(ValueError):
            await log.append(ev(payload={"x": math.nan}))  # JSON cannot hold NaN
        with pytest.raises(TypeError):
            await log.append(ev(payload={"x": object()}))
        assert all(r is not None for r in await guarded(asyncio.gather(*good)))
        assert [e.step for e in await log.read()] == [0, 1, 2, 3, 4]
        assert (await log.verify()).ok


# ------------------------------------------------------------------------------------------ errors
async def test_not_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(NotAnEventLog, match="not a GENIUS event log") as info:
        await EventLog.open(path)
    assert "--db" in str(info.value)
    assert path.read_bytes().startswith(b"these are my notes")  # untouched


async def test_foreign_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(NotAnEventLog, match="customers") as info:
        await EventLog.open(path)
    assert "--db" in str(info.value)
    assert raw(path, "SELECT name FROM sqlite_master WHERE type='table'") == [("customers",)]


async def test_newer_schema(db: Path) -> None:
    await write_log(db, 2)
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    for writable in (True, False):
        with pytest.raises(NewerSchemaError, match="upgrade genius-agent"):
            await EventLog.open(db, writable=writable)
    assert raw(db, "PRAGMA user_version")[0][0] == SCHEMA_VERSION + 1  # not downgraded


async def test_missing_log_without_create(tmp_path: Path) -> None:
    with pytest.raises(NotAnEventLog, match="--db"):
        await EventLog.open(tmp_path / "nope.sqlite", create=False)
    assert not (tmp_path / "nope.sqlite").exists()


async def test_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "deep" / "log.sqlite"
    async with await EventLog.open(path) as log:
        await log.append(ev())
    assert path.exists()


async def test_integrity_error_is_not_retried_and_writer_keeps_reporting(db: Path) -> None:
    async with await EventLog.open(db) as log:
        await log.append_many([*numbered(2), ev(key="k0")])  # the writer now knows this run's stored keys
        # A row written behind the writer's back holds the effect keys the writer will be asked to store: its
        # cache of stored keys does not know them, so only the log's unique index can refuse the inserts.
        con = sqlite3.connect(db)
        for n, key in enumerate(("k1", "k2"), start=4):
            con.execute("INSERT INTO events (seq, run_id, type, effect_key, schema_version, ts, payload, hash) "
                        f"VALUES ({n}, '{RUN}', 'run.created', '{key}', 1, 0, '{{}}', 'x')")
        con.commit()
        con.close()
        # The writer finds the tail moved (as when another process appends) and continues the chain after it.
        moved = await guarded(log.append(ev(step=99)))
        assert moved is not None and moved.seq == 6
        calls = 0
        real_execute = log._conn.execute

        def counting_execute(sql: str, *args: Any) -> Any:  # white box: count the inserts tried
            nonlocal calls
            calls += sql.startswith("INSERT")
            return real_execute(sql, *args)

        log._conn.execute = counting_execute  # type: ignore[method-assign]
        for attempt in range(1, 3):
            with pytest.raises(IntegrityBug, match="bug"):
                await guarded(log.append(ev(key=f"k{attempt}")))
            assert calls == attempt  # one try per append: integrity errors are never retried
        assert log._writer is not None and not log._writer.done()  # the writer is alive and still answering
        # A batch too big for one statement, with one colliding event at its end, is rolled back whole.
        with pytest.raises(IntegrityBug):
            await guarded(log.append_many([*numbered(250), ev(key="k1")]))
        assert raw(db, "SELECT count(*) FROM events")[0][0] == 6  # 3 + the intruders + 1: nothing partial
        assert log.commits == 2  # the batch before the intrusion and the one after it
        stored = await guarded(log.append(ev(key="k3")))  # and the writer goes on
        assert stored is not None and stored.seq == 7


# ------------------------------------------------------------------------------------------ redaction
async def test_secrets_are_redacted_on_disk_token_counts_kept(db: Path) -> None:
    secret = "sk-proj-AbCdEf0123456789xyz"
    payload = {
        "kind": "llm",
        "api_key": secret,
        "request": {
            "headers": {"Authorization": f"Bearer {secret}", "X-Api-Key": "hunter2hunter2", "Accept": "json"},
            "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 256,
        },
        "client": {"openai_api_key": secret, "base_url": "http://127.0.0.1:8000/v1", "password": "pw",
                   "api_key_env": "OPENAI_API_KEY"},  # names where the key lives: config resume needs
        "error": f"401 Unauthorized: incorrect API key provided: {secret} (header Bearer abcdefghijklmnop)",
        "ok": {
            "prompt_tokens": 812, "completion_tokens": 37, "total_tokens": 849,
            # LangChain's usage metadata: counts under keys that contain the word "token".
            "token_usage": {"prompt_tokens": 812, "completion_tokens": 37},
            "usage_metadata": {"input_tokens": 812, "output_tokens": 37,
                               "input_token_details": {"cache_read": 0}},
        },
        "access_token": "opaque-value", "token": "opaque2",
    }
    original = json.loads(json.dumps(payload))
    async with await EventLog.open(db) as log:
        stored = await log.append(ev(payload=payload))
        back = (await log.read())[0]
    assert payload == original  # the caller's object is not modified
    text = raw(db, "SELECT payload FROM events")[0][0]
    for leaked in (secret, "AbCdEf0123456789", "hunter2", "abcdefghijklmnop", "opaque-value", "opaque2", '"pw"'):
        assert leaked not in text
    on_disk = json.loads(text)
    assert on_disk["api_key"] == REDACTED
    assert on_disk["request"]["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED, "Accept": "json"}
    assert on_disk["client"] == {"openai_api_key": REDACTED, "base_url": "http://127.0.0.1:8000/v1",
                                 "password": REDACTED, "api_key_env": "OPENAI_API_KEY"}
    assert on_disk["error"].startswith("401 Unauthorized: incorrect API key provided: [REDACTED]")
    assert on_disk["ok"] == original["ok"]  # every token count survives
    assert on_disk["request"]["max_tokens"] == 256
    assert on_disk["request"]["messages"] == original["request"]["messages"]
    assert stored is not None and stored.payload == on_disk == back.payload


def test_hash_head_fast_path_matches_its_definition() -> None:
    rng = random.Random(99)
    texts = ["run", "", "Größe ✓ 模型", 'q"uote', "back\\slash", "new\nline", "\u2028\u00a0\x00\x1f", "t0/s1/llm/req"]
    floats = [0.0, -0.0, 1e-7, 1.5e22, 1_700_000_000.123456, 5e-324, 1.7976931348623157e308, 0.1 + 0.2]
    for _ in range(2000):
        head = (rng.randrange(1, 2**62), rng.choice(texts), rng.choice([None, 0, -1, 7, 2**40]),
                rng.choice([None, 0, 3]), rng.choice(texts), rng.choice([None, *texts]), rng.choice([1, 2]),
                rng.choice(floats))
        expected = hashlib.sha256(f"{GENESIS_HASH}\n{_head_reference(*head)}\n{{}}".encode()).hexdigest()
        assert event_hash(GENESIS_HASH, *head, "{}") == expected, head


async def test_loose_types_still_verify() -> None:
    """An int timestamp or a bool/float-free trial is stored as the column types read it back."""
    async with await EventLog.open(":memory:") as log:
        stored = await log.append(Event("run.started", RUN, {"pid": 1, "host": "h", "mode": "live"}, trial=True,
                                        step=2, ts=1_700_000_000))
        assert stored is not None and stored.ts == 1_700_000_000.0 and type(stored.trial) is int
        assert (await log.read())[0] == stored
        assert (await log.verify()).ok
    with pytest.raises(TypeError):
        Event("run.started", RUN, {"pid": 1, "host": "h", "mode": "live"}, trial=1.5)  # type: ignore[arg-type]


def test_fast_stored_event_is_a_stored_event() -> None:
    args = (3, "run.started", RUN, {"pid": 1}, 0, None, "k", 1, 1.5, "h" * 64)
    fast, slow = stored_event(*args), StoredEvent(*args)
    assert fast == slow and repr(fast) == repr(slow)
    assert vars(fast) == vars(slow)
    with pytest.raises(AttributeError):
        fast.seq = 4  # type: ignore[misc]  # still frozen


async def test_registered_secret_values_never_reach_the_log(tmp_path):
    """The API key a client was opened with is masked even where no key name or pattern gives it away."""
    from storage.redact import register_secret

    register_secret("custom-endpoint-key-1234")
    db = tmp_path / "log.sqlite"
    log = await EventLog.open(db)
    await log.append(Event("run.created", "r", {"config": {"note": "proxy said: bad key custom-endpoint-key-1234"}}))
    await log.close()
    raw = sqlite3.connect(db).execute("SELECT payload FROM events").fetchone()[0]
    assert "custom-endpoint-key-1234" not in raw and "[REDACTED]" in raw
