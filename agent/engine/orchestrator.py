"""Runs, resumes and replays searches: trials in parallel behind one LLM client, every step in the log.

Data flows one way: configuration -> strategy -> (LLM client | evaluator | history) -> events -> log. The
orchestrator is the only writer of run-level events; trials write theirs through their journals, all
through the log's single writer task.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agent.engine.config import AssistOptions, RunConfig, code_version
from agent.engine.context import Listener, TrialContext, feasible_mask
from agent.engine.evaluators import make_evaluator
from agent.engine.strategies import make_strategy
from agent.llm.diagnostics import get_logger
from agent.llm.errors import LLMCallFailed
from storage import (
    Event,
    EventLog,
    Journal,
    MemorySink,
    ReplayMissingEffect,
    RunState,
    StoredEvent,
    UnknownRunError,
    fold_all,
    fold_run,
)
from storage.fold import apply_event
from storage.hints import check_run_id, command_hint
from storage.journal import EventSink
from storage.ownership import RunOwnership
from storage.payloads import (
    LLMUnreached,
    Optimum,
    RunCreated,
    RunFinished,
    RunInterrupted,
    RunReconfigured,
    RunRetried,
    RunStarted,
    SpaceFacts,
)
from storage.redact import REDACTED
from storage.retries import generation, retry_points
from storage.runs import read_run
from tools.errors import UserError
from tools.spaces import get_space

# The commands that only read never import this module (agent/commands.py), so structlog may load with it.
log = get_logger("genius.orchestrator")


def new_run_id() -> str:
    """Sortable, unique enough for one user's log: time of creation plus random bits."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


async def open_llm(config: RunConfig) -> Any:
    """The one shared, rate-limited client of a run (it counts nothing: the budget is the fold's)."""
    from agent.llm.client import LLMClient, LLMSettings
    from agent.llm.spec import parse_llm_spec

    spec = parse_llm_spec(config.llm, base_url=config.base_url)
    # A resumed run asks as it was recorded asking, whatever the endpoint says now; a new one as --json-schema
    # and --tool-calls.
    json_schema = (config.structured_output if config.structured_output is not None
                   else {"on": True, "off": False}.get(config.json_schema))
    tools = (config.tool_calling if config.tool_calling is not None
             else {"native": True, "json": False}.get(config.tool_calls))
    settings = LLMSettings(rate_limit=config.request_rate_limit(), tokens_per_minute=config.tokens_per_minute,
                           timeout_s=config.request_timeout_s,
                           deadline_s=max(1800.0, 2 * config.request_timeout_s),
                           max_concurrency=max(1, config.parallel),
                           tools=tools, json_schema=json_schema,
                           embedded_runtime=config.embedded_runtime)
    return await LLMClient.open(spec, settings)


def _check_config(config: RunConfig) -> RunConfig:
    """Validate ``config`` against its space and return it with what the space decides filled in."""
    space = get_space(config.space, config.data_dir)  # unknown space -> UserError listing the names
    if config.uses_llm:
        from agent.llm.providers import require_key
        from agent.llm.spec import parse_llm_spec

        # a bad --llm, or OpenAI without a key, is refused before anything is created
        spec = parse_llm_spec(config.llm, base_url=config.base_url)
        require_key(spec)
        config = _with_prices(config, spec)
    if config.evaluator == "table":
        space.table()  # a missing or corrupted table fails here, before anything is written
    if config.max_params is not None or config.max_flops is not None:
        if space.table().params is None:
            raise UserError(f"--max-params/--max-flops need a table with params and FLOPs (nas_macro, channel_*); "
                            f"{space.name} has none")
        mask = feasible_mask(space, config.max_params, config.max_flops)
        if mask is not None and not mask.any():
            raise UserError("no architecture of the space is within --max-params/--max-flops; raise the limit")
    assist = config.assist.resolved(named_options=bool(space.value_names), has_option_names=bool(space.option_names))
    return replace(config, assist=assist, model_help=config.resolved_model_help())


def _with_prices(config: RunConfig, spec: Any) -> RunConfig:
    """``config`` with its token prices decided: as given, else the price database's (0 for local models).
    --max-cost for a model without a known price is refused with how to give one."""
    from agent.llm.prices import known_prices

    prompt, completion = config.price_prompt_per_1k, config.price_completion_per_1k
    if prompt is not None and completion is not None:
        return config
    known = known_prices(spec)
    if known is None and config.max_cost is not None:
        raise UserError(f"--max-cost needs the price of {config.llm}'s tokens, which the price database does not "
                        "know; give them with --price-prompt P --price-completion C (per 1,000 tokens)")
    known = known or (0.0, 0.0)
    return replace(config, price_prompt_per_1k=known[0] if prompt is None else prompt,
                   price_completion_per_1k=known[1] if completion is None else completion)


def space_facts(config: RunConfig) -> SpaceFacts:
    """What showing or replaying the run needs to know of its space, recorded at creation so that neither
    needs the benchmark table: its size and, where a table is used, its optimum."""
    space = get_space(config.space, config.data_dir)
    facts = SpaceFacts(size=space.size)
    if config.evaluator == "table":
        _, best = space.optimum()
        facts["optimum"] = Optimum(test_accuracy=best.test_accuracy, rank=int(best.rank or 1))
    return facts


def _check_recorded(run_id: str, recorded_config: dict[str, Any]) -> None:
    """Refuse runs this version cannot re-execute exactly, naming the version that can."""
    version = str(recorded_config.get("code_version") or "an earlier version")
    sha = version.split("+", 1)[1] if "+" in version else ""
    how = f"git checkout {sha}, then " if sha else ""
    if recorded_config.get("mode") == "agent" and "model_help" not in recorded_config:
        raise UserError(f"run {run_id} was written by genius-agent {version} with its hand-written agent loop, "
                        f"which this version replaced by the LangChain agent; {how}python run_agent.py replay "
                        f"{run_id} (or resume) with that version. `show` still works here.")
    # A setting this version does not know came from a later one: re-executed without it, the run would ask
    # other questions than it recorded, so it is refused rather than loaded without it.
    unknown = sorted(set(recorded_config) - set(RunConfig.__dataclass_fields__))
    unknown += sorted(f"assist.{k}" for k in set(recorded_config.get("assist") or {})
                      - set(AssistOptions.__dataclass_fields__))
    if unknown:
        raise UserError(f"run {run_id} was written by genius-agent {version} with settings this version does not "
                        f"know ({', '.join(unknown)}); {how}python run_agent.py replay {run_id} (or resume) with "
                        f"that version or a later one. `show` still works here.")


async def start_run(config: RunConfig, *, db: str, run_id: str | None = None, listener: Listener | None = None,
                    on_run_id: Callable[[str], None] | None = None) -> RunState:
    """Start a new run and carry it to the end (or until interrupted, leaving it resumable)."""
    help_auto = config.model_help is None
    # The table is read (and, where it is not on disk, downloaded) off the event loop.
    config = await asyncio.to_thread(_check_config, config)
    run_id = check_run_id(run_id) if run_id is not None else new_run_id()
    config = replace(config, code_version=config.code_version or await asyncio.to_thread(code_version))
    if config.obfuscate and config.obfuscation_seed is None:
        config = replace(config, obfuscation_seed=secrets.randbits(31) if config.seed is None else config.seed)
    log_ = await EventLog.open(db)
    llm = None
    owner = RunOwnership(db, run_id)
    try:
        owner.acquire()  # before the run exists: two starts of one run id cannot both create it
        if await log_.has_run(run_id):
            raise UserError(f"run {run_id} already exists in {db}; resume it with: "
                            f"{command_hint('resume', run_id, db=db)}")
        if config.uses_llm:
            llm = await open_llm(config)
            config = replace(config, structured_output=bool(llm.supports_json_schema),
                             tool_calling=bool(llm.supports_tools), embedded_server=llm.embedded_server)
            if help_auto and config.mode == "agent" and not config.model_help and llm.small_model:
                # --model-help auto: a server that reports a small model gets the help the embedded model gets
                config = replace(config, model_help=True)
            if (config.mode == "agent" and not config.model_help and not config.tool_calling
                    and not config.structured_output):
                raise UserError(f"the model {config.llm} can neither call tools nor answer to a JSON schema, one of "
                                "which --mode agent needs; use --model-help on, or --mode paper, with this model")
        await log_.append(Event("run.created", run_id, RunCreated(config=config.to_json(), space=space_facts(config)),
                                effect_key="run/created"))
        if on_run_id is not None:
            on_run_id(run_id)
        return await _execute(log_, run_id, config, [], llm=llm, replay=False, listener=listener)
    finally:
        if llm is not None:
            await llm.aclose()
        await log_.close()
        owner.release()


# What `resume` may change: how the endpoint is reached and the budget, none of which is part of a request.
RESUME_CHANGES = ("base_url", "request_timeout_s", "rate_limit", "max_cost", "max_tokens")


async def resume_run(run_id: str, *, db: str, listener: Listener | None = None,
                     changes: dict[str, Any] | None = None, retry_failed: bool = False) -> RunState:
    """Continue an interrupted run exactly where it stopped: recorded effects are not performed again.

    ``changes`` (keys of :data:`RESUME_CHANGES`): a new base URL, timeout, rate limit or budget for this and
    later executions, recorded as ``run.reconfigured``. ``retry_failed``: evaluate the failed candidates again
    (a finished run too): each trial with a failure runs again from its first one, recorded as ``run.retried``
    (the course it took from there on is superseded, see :mod:`storage.retries`)."""
    changes = {k: v for k, v in (changes or {}).items() if v is not None}
    unknown = set(changes) - set(RESUME_CHANGES)
    if unknown:
        raise UserError(f"resume cannot change {', '.join(sorted(unknown))}; it can change {', '.join(RESUME_CHANGES)}")
    log_ = await EventLog.open(db, create=False)
    llm = None
    owner = RunOwnership(db, run_id)
    try:
        # Taken before the events are read: a second resume of the run is refused before it reads or calls
        # anything, whichever path (a symlink, a hard link) reached the log.
        owner.acquire()
        recorded = await log_.read(run_id)
        if not recorded:
            raise UnknownRunError(f"no run {run_id} in {db}; list the runs with: {command_hint('runs', db=db)}")
        state = fold_run(run_id, recorded)
        points = retry_points(recorded) if retry_failed else {}
        if retry_failed and not points:
            raise UserError(f"run {run_id} has no failed evaluation to retry; resume it without --retry-failed")
        if state.status == "finished" and not points:
            return state
        _check_recorded(run_id, state.config)
        config = replace(RunConfig.from_json(state.config), **changes)
        await asyncio.to_thread(_check_config, config)
        if config.uses_llm and config.base_url and REDACTED in config.base_url:
            raise UserError(f"run {run_id}'s base URL held credentials, which were not recorded; resume it with "
                            f"--base-url URL: {command_hint('resume', run_id, '--base-url', 'URL', db=db)}")
        if config.uses_llm:
            llm = await open_llm(config)
        if changes:
            await log_.append(Event("run.reconfigured", run_id, RunReconfigured(changes=changes)))
        if points:
            retried = await log_.append(Event("run.retried", run_id, RunRetried(
                trials={str(t): step for t, step in sorted(points.items())}, generation=generation(recorded) + 1)))
            assert retried is not None  # unkeyed: always stored
            recorded = [*recorded, retried]
        return await _execute(log_, run_id, config, recorded, llm=llm, replay=False, listener=listener)
    finally:
        if llm is not None:
            await llm.aclose()
        await log_.close()
        owner.release()


async def replay_run(run_id: str, *, db: str) -> RunState:
    """Re-execute a run entirely from its log (no model, no network, no training) and fold the result."""
    recorded = await read_run(run_id, db=db)
    recorded_config = fold_run(run_id, recorded).config
    _check_recorded(run_id, recorded_config)
    config = RunConfig.from_json(recorded_config)
    get_space(config.space, config.data_dir)
    sink = MemorySink()
    created = next(e for e in recorded if e.type == "run.created")
    await sink.append(Event("run.created", run_id, created.payload, effect_key="run/created", ts=created.ts))
    return await _execute(sink, run_id, config, recorded, llm=None, replay=True, listener=None)


class _FoldingSink:
    """Passes events to ``sink`` and folds each stored one into ``ledger``: the run's state as the log holds it
    while the run goes on, which is all the budget is checked against (one ledger, the fold's)."""

    def __init__(self, sink: EventSink, ledger: RunState) -> None:
        self.sink = sink
        self.ledger = ledger

    async def append(self, event: Event) -> StoredEvent | None:
        stored = await self.sink.append(event)
        if stored is not None:
            apply_event(self.ledger, stored)
        return stored


async def _execute(sink: EventSink, run_id: str, config: RunConfig, recorded: list[StoredEvent], *, llm: Any,
                   replay: bool, listener: Listener | None) -> RunState:
    ledger = fold_run(run_id, recorded)  # what the run spent before this execution, every resume included
    journal = Journal(run_id, _FoldingSink(sink, ledger), recorded, replay=replay)
    if not replay:
        # Every execution records the code it ran (git runs off the event loop), so a run resumed on another
        # commit shows it mixed versions.
        version = await asyncio.to_thread(code_version)
        await sink.append(Event("run.started", run_id, RunStarted(pid=os.getpid(), host=socket.gethostname(),
                                                              mode="resume" if recorded else "live",
                                                              code_version=version)))
    space = get_space(config.space, config.data_dir)
    strategy = make_strategy(config)
    evaluator = make_evaluator(config)
    gate = asyncio.Semaphore(config.parallel)
    interrupted_trials: list[int] = []
    outages: list[str] = []  # why trials stopped because the model could not be reached

    history_source = _history_source(sink, run_id, config) if isinstance(sink, EventLog) else None

    async def one(trial: int) -> None:
        async with gate:
            ctx = TrialContext(config=config, space=space, journal=journal.trial(trial), run_id=run_id, llm=llm,
                               evaluator=evaluator, listener=listener, history_source=history_source, spent=ledger)
            try:
                await ctx.start()
                await strategy.run(ctx)
            except ReplayMissingEffect:
                interrupted_trials.append(trial)
            except LLMCallFailed as exc:
                if not exc.outage:
                    raise
                # The endpoint is down: this trial stops where it is (the call is not recorded, so a resume
                # makes it again); the other trials go on.
                interrupted_trials.append(trial)
                outages.append(f"trial {trial}: {exc}")
                # not the call's result (a resume makes it again), but what the server saw of it
                await sink.append(Event("llm.unreached", run_id, LLMUnreached(message=str(exc), attempts=exc.attempts),
                                        trial=trial))
                log.warning(
                    "trial interrupted: the model could not be reached", run_id=run_id, trial=trial, reason=str(exc))

    tasks = [asyncio.create_task(one(t), name=f"trial-{t}") for t in range(config.trials)]
    try:
        await asyncio.gather(*tasks)
    except BaseException as exc:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Once no trial waits on it: a training still running stops at its next step, and the executor goes.
        await asyncio.shield(evaluator.close())
        if not replay:
            reason = ("interrupted by the user" if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
                      else f"{type(exc).__name__}: {exc}")
            await asyncio.shield(sink.append(Event("run.interrupted", run_id, RunInterrupted(reason=reason))))
            log.warning("run interrupted", run_id=run_id, reason=reason)
        raise
    await evaluator.close()
    if replay and interrupted_trials:
        await sink.append(Event("run.interrupted", run_id, RunInterrupted(reason="the log ends here")))
    elif interrupted_trials:
        await sink.append(Event("run.interrupted", run_id, RunInterrupted(
            reason="the model could not be reached: " + "; ".join(outages))))
    else:
        await journal.emit(Event("run.finished", run_id, RunFinished(status="finished"), effect_key="run/finished"))
    if isinstance(sink, MemorySink):
        return fold_run(run_id, sink.events)
    assert isinstance(sink, EventLog)
    return fold_run(run_id, await sink.read(run_id))


def _history_source(log_: EventLog, run_id: str, config: RunConfig) -> Any:
    """What the agent's history tool reads beyond its trial (``--history-scope run|space``): the evaluations
    committed so far in this run, or in every run on the same space with the same evaluator."""

    async def read(scope: str) -> list[dict[str, Any]]:
        states = fold_all(await log_.read(run_id if scope == "run" else None))
        out = []
        for rid, state in states.items():
            if state.config.get("space") != config.space or state.config.get("evaluator") != config.evaluator:
                continue
            for trial, t in sorted(state.trials.items()):
                out += [{"run": rid, "trial": trial, "arch": it.arch, "accuracy": it.accuracy} for it in t.evaluated()]
        return out

    return read
