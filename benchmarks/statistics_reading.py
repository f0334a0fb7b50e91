"""Can a model read per-position statistics? How often it names the option with the best mean accuracy.

Assisted mode's whole-list behaviours (ranked_values, explore_untried) assume that a model, shown each
option's mean accuracy, takes the best one. This measures that assumption directly: for a seeded random
history of evaluated architectures, each position's tried options are listed with their mean accuracy and
the model is asked, several times at temperature 0.7, either the plain question ("which option has the
highest mean accuracy?") or the judgement assisted mode would ask ("which is most likely to give the
highest accuracy?"). Printed: how often the answer is the option with the best mean, against the chance
of a uniform pick.

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/statistics_reading.py [--llm embedded] \
        [--space nb201_cifar10,channel_mobilenet] [--history 6] [--samples 8]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.engine.views import make_view
from agent.llm import LLMClient, LLMSettings, parse_llm_spec
from tools.spaces import get_space

QUESTIONS = {
    "highest mean": "Which option at {position} has the highest mean accuracy? Answer with the option only.",
    "judgement": "Which option at {position} is most likely to give the highest accuracy? Answer with the "
                 "option only.",
}


async def measure(client: LLMClient, space_name: str, args: argparse.Namespace) -> dict[str, tuple[int, int, float]]:
    space = get_space(space_name)
    view = make_view(space, obfuscate=False, seed=None)
    rng = random.Random(args.seed)
    history = {tuple(rng.choice(values) for values in space.positions) for _ in range(args.history)}
    accuracy = {arch: space.lookup(arch).accuracy for arch in history}
    intro = view.compact_prompt()
    out: dict[str, tuple[int, int, float]] = {}
    for kind, template in QUESTIONS.items():
        right = asked = 0
        chance = []
        call = 0
        for j, position in enumerate(space.position_names):
            means = {v: statistics.mean(accuracy[a] for a in history if a[j] == v)
                     for v in space.positions[j] if any(a[j] == v for a in history)}
            if len(means) < 2:
                continue
            listing = "\n".join(f"{v}: {m:.2f}%" for v, m in means.items())
            best = max(means, key=lambda v: means[v])
            prompt = (f"{intro}\n\nMean accuracy of the evaluated architectures for each option at {position}:\n"
                      f"{listing}\n{template.format(position=position)}")
            for k in range(args.samples):
                call += 1
                reply = await client.chat([{"role": "user", "content": prompt}], trial=0, temperature=0.7,
                                          answer_schema={"type": "integer", "enum": list(means)}, max_tokens=8,
                                          seed=args.seed * 1000 + k, call_index=call)
                right += reply.content.strip() == str(best)
                asked += 1
                chance.append(1 / len(means))
        out[kind] = (right, asked, statistics.mean(chance) if chance else float("nan"))
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llm", default="embedded")
    ap.add_argument("--space", default="nb201_cifar10,channel_mobilenet,nas_macro")
    ap.add_argument("--history", type=int, default=6, help="evaluated architectures behind the statistics")
    ap.add_argument("--samples", type=int, default=8, help="answers per question")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    client = await LLMClient.open(parse_llm_spec(args.llm), LLMSettings(max_concurrency=1, timeout_s=300))
    try:
        print(f"llm {args.llm}; {args.history} evaluated architectures; {args.samples} answers per question")
        print(f"{'space':18} {'question':14} {'best-mean option named':>24} {'uniform pick':>13}")
        for name in args.space.split(","):
            for kind, (right, asked, chance) in (await measure(client, name, args)).items():
                print(f"{name:18} {kind:14} {right:>10}/{asked:<4} ({100 * right / asked:3.0f}%) "
                      f"{100 * chance:12.0f}%", flush=True)
    finally:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
