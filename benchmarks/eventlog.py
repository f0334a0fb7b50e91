"""Event log throughput: committed appends one by one, batched appends, fold speed, bytes per event.

Not a test: it prints figures. Run ``python benchmarks/eventlog.py`` (``--quick`` for a smaller run).
Targets on a 2-core machine: >= 5,000 committed events/s one by one, >= 50,000/s batched, fold >= 200,000
events/s. Each figure is the best of a few repeats, because the machine is shared and noisy. Beside each
rate is the CPU time per event (all threads of this process, timed section only): it moves much less than
the rate when other processes load the machine (their load average is printed first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import Event, EventLog, StoredEvent, fold_all, fold_run

RUN = "bench-run"
Figure = tuple[float, float]  # (events per second, CPU microseconds per event)


class Timer:
    """Wall and CPU time of a timed section over ``n`` events."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.figure: Figure = (self.n / (time.perf_counter() - self.wall),
                               (time.process_time() - self.cpu) / self.n * 1e6)


def _llm_event(i: int, trial: int) -> Event:
    # Roughly the shape of a real effect result: a short model answer and its token counts.
    return Event(
        type="effect.completed", run_id=RUN, trial=trial, step=i,
        effect_key=f"t{trial}/s{i}/llm/res",
        payload={"kind": "llm", "ok": {"text": f"[{i % 5}, {i % 3}, 1, 0, 2, 4]", "prompt_tokens": 812,
                                        "completion_tokens": 37, "cost": 0.0004, "attempts": []}},
    )


def _iteration_event(i: int, trial: int) -> Event:
    return Event(
        type="iteration.completed", run_id=RUN, trial=trial, step=i, effect_key=f"t{trial}/s{i}/iteration",
        payload={"iteration": i, "status": "ok", "arch": [i % 5, 1, 2, 3, 4, 0], "key": f"a{i}",
                 "evaluation": {"accuracy": 0.9 + (i % 97) / 10000, "rank": i, "params": 1_000_000},
                 "repeat": i % 7 == 0, "attempts": 1},
    )


def _event(i: int) -> Event:
    return _llm_event(i, i % 8) if i % 2 else _iteration_event(i, i % 8)


async def bench_single(path: Path, n: int) -> Figure:
    async with await EventLog.open(path) as log:
        await log.append(Event(type="run.created", run_id=RUN, payload={"config": {}}))
        events = [_event(i) for i in range(n)]
        with Timer(n) as t:
            for ev in events:
                await log.append(ev)
        return t.figure


async def bench_batched(path: Path, n: int, batch: int) -> Figure:
    async with await EventLog.open(path) as log:
        await log.append(Event(type="run.created", run_id=RUN, payload={"config": {}}))
        events = [_event(i) for i in range(n)]
        with Timer(n) as t:
            for k in range(0, n, batch):
                await log.append_many(events[k:k + batch])
        return t.figure


async def bench_concurrent(path: Path, tasks: int, per_task: int) -> Figure:
    """Many trials appending one by one at the same time: group commit batches them."""
    async with await EventLog.open(path) as log:
        await log.append(Event(type="run.created", run_id=RUN, payload={"config": {}}))
        events = [[_llm_event(i, t) for i in range(per_task)] for t in range(tasks)]

        async def trial(t: int) -> None:
            for ev in events[t]:
                await log.append(ev)

        with Timer(tasks * per_task) as t:
            await asyncio.gather(*(trial(t) for t in range(tasks)))
        return t.figure


async def build(path: Path, n: int) -> None:
    async with await EventLog.open(path) as log:
        await log.append(Event(type="run.created", run_id=RUN, payload={"config": {"space": "bench"}}))
        for k in range(0, n, 5000):
            await log.append_many(_event(i) for i in range(k, min(n, k + 5000)))


async def bench_read(path: Path) -> tuple[list[StoredEvent], Figure, Figure]:
    async with await EventLog.open(path, writable=False) as log:
        n = await log.verify()
        with Timer(n.events) as r:
            events = await log.read()
        with Timer(len(events)) as v:
            report = await log.verify()
        assert report.ok, report
    return events, r.figure, v.figure


def bytes_per_event(path: Path) -> float:
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    return os.path.getsize(path) / count


def best(fn: Callable[[], Figure], repeats: int) -> Figure:
    return max(fn() for _ in range(repeats))


def show(name: str, figure: Figure, note: str) -> None:
    print(f"{name:<26}: {figure[0]:>10,.0f} events/s  {figure[1]:6.1f} CPU us/event  {note}", flush=True)


def _process_appends(path: str, run: str, n: int, out: str) -> None:
    """One process: ``n`` committed appends one by one to its own run; writes each commit's latency (s)."""
    async def go() -> list[float]:
        log = await EventLog.open(path)
        latencies = []
        try:
            for i in range(n):
                started = time.perf_counter()
                await log.append(Event("effect.completed", run, {"kind": "evaluate", "ok": {"i": i}}, trial=0,
                                       step=i, effect_key=f"t0/s{i}/evaluate/res"))
                latencies.append(time.perf_counter() - started)
        finally:
            await log.close()
        return latencies

    Path(out).write_text("\n".join(str(x) for x in asyncio.run(go())))


def bench_processes(path: Path, processes: int, per_process: int) -> tuple[float, float]:
    """Several processes appending to one log at once: (events/s over all, p99 commit latency in ms)."""
    import multiprocessing

    asyncio.run(build(path, 1))  # the log exists before the processes race to write it
    ctx = multiprocessing.get_context("spawn")
    outs = [str(path) + f".lat{k}" for k in range(processes)]
    workers = [ctx.Process(target=_process_appends, args=(str(path), f"proc-{k}", per_process, outs[k]))
               for k in range(processes)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    latencies = sorted(float(x) for out in outs for x in Path(out).read_text().split())
    assert len(latencies) == processes * per_process, "a process failed"
    return processes * per_process / wall, 1000 * latencies[int(0.99 * (len(latencies) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    args = parser.parse_args()
    n_single, n_batch, n_fold, repeats = (2_000, 20_000, 50_000, 1) if args.quick else (5_000, 50_000, 200_000, 3)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1_000_000))

        def fresh() -> Path:
            return Path(tmp) / f"bench{next(counter)}.sqlite"

        show("single committed appends", best(lambda: asyncio.run(bench_single(fresh(), n_single)), repeats),
             f"(target >= 5,000; {n_single:,} awaited one by one)")
        show("batched appends (x1000)", best(lambda: asyncio.run(bench_batched(fresh(), n_batch, 1000)), repeats),
             f"(target >= 50,000; {n_batch:,} events)")
        show("64 concurrent trials", best(lambda: asyncio.run(bench_concurrent(fresh(), 64, 100)), repeats),
             "(6,400 events, each trial awaits its appends one by one: group commit)")

        for processes in (2, 8):
            rate, p99 = bench_processes(fresh(), processes, 500 if args.quick else 1_000)
            print(f"{processes} processes, one log{'':<10}: {rate:>10,.0f} events/s, p99 commit {p99:.1f} ms "
                  "(each process awaits its appends one by one; its start-up is in the wall time)")

        path = fresh()
        asyncio.run(build(path, n_fold))
        events, read_fig, verify_fig = asyncio.run(bench_read(path))
        show("read (JSON, upcast)", read_fig, f"({len(events):,} events)")
        show("verify (hash chain)", verify_fig, "")

        def fold_one() -> Figure:
            with Timer(len(events)) as t:
                fold_run(RUN, events)
            return t.figure

        def fold_many() -> Figure:
            with Timer(len(events)) as t:
                fold_all(events)
            return t.figure

        show("fold_run", best(fold_one, repeats), "(target >= 200,000; events already read)")
        show("fold_all", best(fold_many, repeats), "")
        print(f"{'size':<26}: {bytes_per_event(path):>10,.0f} bytes/event (file after a checkpoint / events)")


if __name__ == "__main__":
    main()
