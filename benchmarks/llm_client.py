"""LLM client figures against the local fake OpenAI-compatible server (no model, no network).

1. Rate limit: 32 concurrent callers through one client limited to R requests/s; achieved rate and
   the most requests the *server* saw in any 1-second window.
2. Overhead per call: sequential calls through raw httpx, the OpenAI SDK, ChatOpenAI and LLMClient
   against the same server; each layer's extra cost is the difference.

    python benchmarks/llm_client.py [--rate 20] [--requests 100] [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2
import openai
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.llm import LLMClient, LLMSettings, parse_llm_spec
from tests.fake_openai_server import FakeOpenAIServer

MESSAGES = [{"role": "user", "content": "Propose an architecture as a list of 8 op ids."}]


async def rate_figures(server: FakeOpenAIServer, rate: float, requests: int, callers: int = 32) -> None:
    spec = parse_llm_spec("openai:fake-model", base_url=server.base_url)
    client = await LLMClient.open(spec, LLMSettings(rate_limit=rate, max_concurrency=callers))
    before = len(server.completions)

    async def caller(i: int) -> None:
        for trial in range(i, requests, callers):
            await client.chat(MESSAGES, trial=trial)

    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    wall = time.perf_counter() - started
    await client.aclose()
    arrivals = sorted(r.arrived for r in server.completions[before:])
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    worst = max(sum(1 for t in arrivals if s <= t < s + 1.0) for s in arrivals)
    print(f"rate limit {rate:g}/s, {callers} callers, {requests} requests in {wall:.2f} s")
    print(f"  achieved {achieved:.2f} req/s ({100 * achieved / rate:.1f} % of the limit)")
    print(f"  most requests in any 1 s window at the server: {worst} (limit {rate:g})")


async def timed(label: str, calls: int, one: Callable[[], Awaitable[object]]) -> float:
    for _ in range(10):  # warm connections and caches
        await one()
    samples = []
    for _ in range(calls):
        t = time.perf_counter()
        await one()
        samples.append(time.perf_counter() - t)
    median = statistics.median(samples) * 1000
    print(f"  {label:<34} median {median:7.3f} ms   p90 {statistics.quantiles(samples, n=10)[-1] * 1000:7.3f} ms")
    return median


async def overhead_figures(server: FakeOpenAIServer, calls: int) -> None:
    url = server.base_url
    body = {"model": "fake-model", "messages": MESSAGES, "temperature": 0.0}
    print(f"overhead per call, {calls} sequential calls each:")
    async with httpx2.AsyncClient() as http:
        raw = await timed("raw httpx2 POST", calls, lambda: http.post(f"{url}/chat/completions", json=body))
        sdk = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0, http_client=http)
        sdk_ms = await timed(
            "openai SDK",
            calls,
            lambda: sdk.chat.completions.create(model="fake-model", messages=MESSAGES),  # type: ignore[arg-type]
        )
        chat = ChatOpenAI(
            model="fake-model", base_url=url, api_key=SecretStr("x"), max_retries=0, http_async_client=http
        )
        lc = await timed("ChatOpenAI.ainvoke", calls, lambda: chat.ainvoke([HumanMessage(MESSAGES[0]["content"])]))
    client = await LLMClient.open(parse_llm_spec("openai:fake-model", base_url=url), LLMSettings(rate_limit=0))
    ours = await timed("LLMClient.chat", calls, lambda: client.chat(MESSAGES, trial=0))
    await client.aclose()
    print(
        f"  SDK over raw HTTP {sdk_ms - raw:+.3f} ms, ChatOpenAI over SDK {lc - sdk_ms:+.3f} ms, "
        f"LLMClient over ChatOpenAI {ours - lc:+.3f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with FakeOpenAIServer() as server:
        await rate_figures(server, args.rate, args.requests)
        await overhead_figures(server, args.calls)


if __name__ == "__main__":
    asyncio.run(main())
