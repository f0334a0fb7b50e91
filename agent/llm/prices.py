"""Prices of a model's tokens, from a maintained price database (``genai-prices``: OpenAI's and other providers'
models, with their dates), so that --max-cost means something without a user looking prices up.

Local and in-process models cost nothing. A model the database does not know has no price; --max-cost for it is
an error that says how to give one (--price-prompt / --price-completion, per 1,000 tokens).
"""

from __future__ import annotations

from agent.llm.spec import LLMSpec

# Tokens the price is asked for: large enough that per-1,000 prices keep their digits.
_PROBE_TOKENS = 1_000_000


def known_prices(spec: LLMSpec) -> tuple[float, float] | None:
    """(prompt, completion) price per 1,000 tokens of ``spec``'s model: 0 for models in this process, the price
    database's for OpenAI's models (or another provider's, reached through a base URL), None where unknown."""
    if spec.kind != "openai":
        return 0.0, 0.0
    from genai_prices import Usage, calc_price  # imported when a network model is priced: its data is large

    provider = "openai" if spec.base_url is None else None
    try:
        prompt = calc_price(Usage(input_tokens=_PROBE_TOKENS, output_tokens=0), model_ref=spec.model,
                            provider_id=provider)
        completion = calc_price(Usage(input_tokens=0, output_tokens=_PROBE_TOKENS), model_ref=spec.model,
                                provider_id=provider)
    except LookupError:
        return None
    return (float(prompt.total_price) * 1000 / _PROBE_TOKENS, float(completion.total_price) * 1000 / _PROBE_TOKENS)
