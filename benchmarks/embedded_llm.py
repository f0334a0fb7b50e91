"""Embedded model figures, for each bundled model that is installed.

For each model: time to assemble/verify the GGUF (first use, then with the verified-marker), time
to load it into the in-process llama.cpp server, then a few requests through LLMClient (a NAS-shaped
prompt with the JSON-schema answer, and a free-text one). For every request it prints llama.cpp's
own ``timings`` of *that* request (prompt and generation tokens/s, read from the response body as it
passes through the client's HTTP connection) next to what the client measured end to end.

    python benchmarks/embedded_llm.py [--models smollm2,qwen-0.5b,qwen-1.5b] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata as md
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.llm import LLMClient, LLMSettings, parse_llm_spec
from agent.llm.bundled import BUNDLED_MODELS, _sha256_of, ensure_bundled

SCHEMA = {"type": "array", "items": {"type": "integer", "enum": [0, 1, 2]}, "minItems": 8, "maxItems": 8}
SPACE = (
    "You design a CNN of 8 searchable layers for CIFAR-10. Each layer is one of: 0 = Identity, "
    "1 = MobileNetV2 inverted residual block with kernel 3 and expansion 3, 2 = inverted residual block "
    "with kernel 5 and expansion 6. Earlier results: [1, 1, 1, 1, 1, 1, 1, 1] gives 91.2%; "
    "[2, 2, 2, 2, 2, 2, 2, 2] gives 92.6%; [0, 1, 2, 0, 1, 2, 0, 1] gives 90.1%. "
)


def installed(name: str) -> bool:
    try:
        md.distribution(BUNDLED_MODELS[name].parts[0][0])
    except md.PackageNotFoundError:
        return False
    return True


async def run_model(name: str, repeats: int) -> None:
    t = time.perf_counter()
    path = ensure_bundled(name)  # assembles on first use ever; later only checks the verified-marker
    ensure_s = time.perf_counter() - t
    t = time.perf_counter()
    _sha256_of(path)  # what every load would cost without the marker
    hash_s = time.perf_counter() - t
    client = await LLMClient.open(parse_llm_spec(f"embedded:{name}"), LLMSettings(rate_limit=0, max_concurrency=4))
    print(
        f"\n{name}: ensure_bundled {ensure_s * 1000:.1f} ms (a full sha256 would take {hash_s:.2f} s), "
        f"load {client.embedded_load_s:.2f} s, {os.cpu_count()} threads"
    )

    # Read llama.cpp's per-request timings off the client's own HTTP connection (benchmark-only access).
    timings: list[dict[str, Any]] = []

    async def grab(response: httpx2.Response) -> None:
        if response.request.url.path.endswith("/chat/completions"):
            await response.aread()
            timings.append(json.loads(response.content).get("timings", {}))

    http = client._provider.http_client
    assert http is not None
    http.event_hooks["response"].append(grab)

    print(
        f"  {'request':<12} {'prompt':>6} {'gen':>4}  {'llama prompt tok/s':>18} {'llama gen tok/s':>15}  "
        f"{'llama ms':>8} {'client ms':>9} {'overhead ms':>11}  {'e2e gen tok/s':>13}"
    )
    jobs: list[tuple[str, dict[str, Any]]] = [
        ("schema", {"answer_schema": SCHEMA, "max_tokens": 64}),
        ("free text", {"max_tokens": 96}),
    ]
    for r in range(repeats + 1):  # the first round warms up and is not shown
        for label, kwargs in jobs:
            # A different first line per request so llama.cpp's prompt cache cannot skip the prompt.
            messages = [
                {"role": "system", "content": f"Request {r}-{label}. You are an expert in neural architecture search."},
                {
                    "role": "user",
                    "content": SPACE
                    + (
                        "Reply with a better list only."
                        if label == "schema"
                        else "Explain briefly which layers matter most."
                    ),
                },
            ]
            reply = await client.chat(messages, trial=0, temperature=0.0, seed=1, **kwargs)
            tm = timings[-1]
            if r == 0:
                continue
            llama_ms = tm.get("prompt_ms", 0.0) + tm.get("predicted_ms", 0.0)
            client_ms = reply.latency_s * 1000
            print(
                f"  {label:<12} {reply.prompt_tokens:>6} {reply.completion_tokens:>4}  "
                f"{tm.get('prompt_per_second', 0):>18.1f} {tm.get('predicted_per_second', 0):>15.1f}  "
                f"{llama_ms:>8.1f} {client_ms:>9.1f} {client_ms - llama_ms:>11.1f}  "
                f"{reply.completion_tokens / reply.latency_s:>13.1f}"
            )
    await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="smollm2,qwen-0.5b,qwen-1.5b")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for name in args.models.split(","):
        if name not in BUNDLED_MODELS:
            sys.exit(f"unknown bundled model {name!r}; choose from {', '.join(BUNDLED_MODELS)}")
        if not installed(name):
            print(f"\n{name}: not installed ({BUNDLED_MODELS[name].pip_command})")
            continue
        await run_model(name, args.repeats)


if __name__ == "__main__":
    asyncio.run(main())
