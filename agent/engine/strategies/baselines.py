"""Baselines at the same budget, on the same engine and log: random search, regularized evolution, local search.

Like NASLib's optimizers they only ask the space for neighbours/samples and the context to evaluate. Their
randomness comes from the trial's journaled seed, so they resume and replay exactly like GENIUS runs.
"""

from __future__ import annotations

import collections

from agent.engine.config import RunConfig
from agent.engine.context import TrialContext
from agent.engine.strategies.base import Strategy
from tools.evaluation import Arch


def _random_arch(ctx: TrialContext) -> Arch:
    """A uniform sample among the architectures within the run's limits (all of them without limits)."""
    while True:
        arch = ctx.space.from_index(ctx.rng.randrange(ctx.space.size))
        if ctx.feasible(arch):
            return arch


def _mutate(ctx: TrialContext, arch: Arch) -> Arch:
    """Change one position to another allowed value (Real et al. 2019's mutation on a discrete space)."""
    pos = ctx.rng.randrange(len(arch))
    options = [v for v in ctx.space.positions[pos] if v != arch[pos]]
    child = list(arch)
    child[pos] = ctx.rng.choice(options)
    return tuple(child)


async def _evaluate(ctx: TrialContext, arch: Arch) -> float:
    """The accuracy of ``arch``, recorded; a failed evaluation is recorded too and ranks below every result."""
    done = await ctx.evaluate_and_record(arch)
    return done[0].accuracy if done is not None else float("-inf")


class RandomSearch:
    """Uniform samples without repeats."""

    name = "random"

    async def run(self, ctx: TrialContext) -> None:
        seen: set[Arch] = {tuple(it.arch) for it in ctx.evaluated() if it.arch}
        while ctx.budget_left > 0 and len(seen) < ctx.space.size:
            arch = _random_arch(ctx)
            if arch in seen:
                continue
            seen.add(arch)
            await _evaluate(ctx, arch)
        await ctx.finish("finished")


class RegularizedEvolution:
    """Real et al. (2019): a population of the most recent ``population`` models; each step the best of
    ``sample_size`` random members is mutated and the oldest member dies.

    Defaults for a 10-evaluation budget (population 5, sample 3): half the budget seeds the population,
    the other half evolves it; a sample of 3 of 5 keeps selection pressure without collapsing onto one
    parent.
    """

    name = "evolution"

    def __init__(self, population: int, sample_size: int) -> None:
        self.population = population
        self.sample_size = sample_size

    async def run(self, ctx: TrialContext) -> None:
        pop: collections.deque[tuple[Arch, float]] = collections.deque()
        seen: set[Arch] = set()
        while ctx.budget_left > 0 and len(pop) < self.population:
            arch = _random_arch(ctx)
            if arch in seen:
                continue
            seen.add(arch)
            pop.append((arch, await _evaluate(ctx, arch)))
        while ctx.budget_left > 0:
            sample = ctx.rng.sample(list(pop), min(self.sample_size, len(pop)))
            parent = max(sample, key=lambda m: m[1])[0]
            child = _mutate(ctx, parent)
            for _ in range(50):  # prefer an unseen feasible child; a repeat would waste the evaluation
                if child not in seen and ctx.feasible(child):
                    break
                child = _mutate(ctx, parent)
            if not ctx.feasible(child):
                child = _random_arch(ctx)
            seen.add(child)
            pop.append((child, await _evaluate(ctx, child)))
            pop.popleft()
        await ctx.finish("finished")


class LocalSearch:
    """NASLib's local search (White et al. 2020, "Local search is state of the art for NAS benchmarks"): evaluate
    ``init`` random architectures, then from the best so far evaluate all its neighbours (one position changed)
    in random order and move to the best of them if it improves; at a local optimum restart from one new random
    architecture. With ``init`` 1 it is the local search runs recorded before the setting (they replay as they
    ran)."""

    name = "local"

    def __init__(self, init: int) -> None:
        self.init = init

    async def run(self, ctx: TrialContext) -> None:
        seen: dict[Arch, float] = {}

        async def score(arch: Arch) -> float:
            if arch not in seen:
                seen[arch] = await _evaluate(ctx, arch)
            return seen[arch]

        starts = self.init
        while ctx.budget_left > 0:
            # a start: the best of ``starts`` new random architectures (all ``init`` at first, one at a restart)
            drawn: list[tuple[Arch, float]] = []
            while len(drawn) < starts and ctx.budget_left > 0 and len(seen) < ctx.space.size:
                arch = _random_arch(ctx)
                if arch in seen:
                    continue
                drawn.append((arch, await score(arch)))
            if not drawn:
                break
            current, current_acc = max(drawn, key=lambda m: m[1])
            starts = 1
            improved = True
            while improved and ctx.budget_left > 0:
                improved = False
                neighbours = ctx.space.neighbours(current)
                ctx.rng.shuffle(neighbours)
                best, best_acc = current, current_acc
                for n in neighbours:
                    if ctx.budget_left <= 0:
                        break
                    if n in seen or not ctx.feasible(n):
                        continue
                    acc = await score(n)
                    if acc > best_acc:
                        best, best_acc = n, acc
                if best != current:
                    current, current_acc, improved = best, best_acc, True
        await ctx.finish("finished")


def make_baseline(config: RunConfig) -> Strategy:
    if config.optimizer == "random":
        return RandomSearch()
    if config.optimizer == "evolution":
        return RegularizedEvolution(config.population, config.sample_size)
    return LocalSearch(config.local_init)
