"""Cost of a call from the price table (USD per million tokens), in exact decimals."""

from __future__ import annotations

from decimal import Decimal

from pilothouse.core.config import ModelConfig
from pilothouse.core.types import Usage

MILLION = Decimal(1_000_000)


def cost_of(usage: Usage, model: ModelConfig) -> Decimal:
    """Cached prompt tokens are billed at ``cached_input_price`` when the table has one."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    cached_price = model.cached_input_price if model.cached_input_price is not None else model.input_price
    total = (
        (usage.prompt_tokens - cached) * model.input_price
        + cached * cached_price
        + usage.completion_tokens * model.output_price
    )
    return total / MILLION
