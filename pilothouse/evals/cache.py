"""Content hashes that make an unchanged re-run free.

``output_key``: everything that decides what the gateway answers for one case, target and repeat:
the exact request body (model, pinned prompt version or messages, variables, params), the prompt
version's content hash, the fingerprint of the model's or route's config (its deployments, upstream
models and options: a route pointed at another model is a different target) and the repeat index
(repeat 2 is a different sample from repeat 1, and the same sample on every re-run). A stored
successful output with the same key is reused: no request, no spend.

``score_key``: the output key, the scorer and its validated options, and the case's expectations
(expected, disallowed, context, metadata). A score with the same key is reused; change a rubric or
a threshold option and only that scorer runs again, on the stored output.

Custom scorer code is not part of the key: after editing a scorer function, run with ``--no-cache``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import BaseModel

from pilothouse.core.config import Config
from pilothouse.core.eval_records import EvalTarget

CACHE_VERSION = 1  # bump when the meaning of a stored output changes


def _digest(document: Any) -> str:
    data = orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.sha256(data).hexdigest()


def output_key(body: dict[str, Any], target: EvalTarget, repeat: int, fingerprint: str | None) -> str:
    return _digest(
        {
            "v": CACHE_VERSION,
            "body": body,
            "prompt_hash": target.content_hash,
            "model_config": fingerprint,
            "repeat": repeat,
        }
    )


def options_document(options: Any) -> Any:
    if isinstance(options, BaseModel):
        return options.model_dump(mode="json", by_alias=True)
    return options


def score_key(output: str, scorer_type: str, options: Any, expectations: dict[str, Any]) -> str:
    return _digest(
        {
            "v": CACHE_VERSION,
            "output": output,
            "scorer": scorer_type,
            "options": options_document(options),
            "case": expectations,
        }
    )


def model_fingerprints(config: Config) -> dict[str, str]:
    """Model or route name -> hash of the config that decides its answers (prices and limits aside)."""
    ignore = {"input_price", "output_price", "cached_input_price", "limits", "weight", "timeout"}

    def model_doc(name: str) -> Any:
        model = config.model(name)
        if model is None:
            return None
        provider = config.providers.get(model.provider)
        return {
            "model": model.model_dump(mode="json", exclude=ignore),
            "provider": provider.model_dump(mode="json") if provider is not None else None,
        }

    out = {m.name: _digest(model_doc(m.name))[:16] for m in config.models}
    for route in config.routes:
        doc = {
            "route": route.model_dump(mode="json", exclude={"limits", "cache"}),
            "deployments": [model_doc(n) for n in route.deployments],
            "fallbacks": [model_doc(n) for n in route.fallbacks],
        }
        out[route.name] = _digest(doc)[:16]
    return out
