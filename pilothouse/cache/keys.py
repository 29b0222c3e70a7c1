"""Cache keys: a normalized hash of everything that shapes the answer, scoped by route and tenant.

Two digests come from one request:

- ``exact``: route, tenant scope, every answer-shaping parameter and all messages.
- ``bucket``: the same minus the text of the last user message. Semantic candidates live in a bucket,
  so a semantic hit shares the route, the tenant, the parameters (``response_format``, ``tools``...)
  and the whole conversation context (system prompt, earlier turns) with the request; only the last
  user message may differ, and that is what gets embedded (``prompt``). Embedding the system prompt
  together with the question would make any two questions under a long shared system prompt look alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from pilothouse.core.types import JSON

# Bumped when the key layout or the stored entry format changes, so old entries are never misread.
KEY_VERSION = b"v1"

# Parameters that do not change the answer: transport (``stream``), attribution (``user``, ``metadata``)
# and OpenAI's own storage flag. ``model`` is replaced by the route name. Everything else counts,
# including unknown extensions (``top_k``...), since a pass-through parameter may change the answer.
IGNORED_PARAMS = frozenset({"model", "messages", "stream", "stream_options", "user", "metadata", "store"})

_TEXT_PARTS = ("text", "input_text")


@dataclass(frozen=True, slots=True)
class CacheKey:
    exact: str
    bucket: str  # empty without semantic caching (no embedding model)
    prompt: str | None  # the text to embed; None when the request has no semantic form


def tenant_scope(team_id: str | None, key_id: str) -> str:
    """Answers are shared within a team; a key without a team shares with no one but itself."""
    return f"team:{team_id}" if team_id else f"key:{key_id}"


def _number(value: Any) -> Any:
    # 0 and 0.0 (or 1 and 1.0) ask for the same thing; booleans stay booleans.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _text_of(content: Any) -> str | None:
    """The message's text, or None if it carries anything but text (an image cannot be compared)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in _TEXT_PARTS:
                return None
            pieces.append(str(part.get("text", "")))
        return "".join(pieces)
    return None


def _digest(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part)
        h.update(b"\x00")
    return h.hexdigest()


def cache_key(body: JSON, *, route: str, scope: str, embedding_model: str | None = None) -> CacheKey:
    """Hash the request; dict key order never matters (keys are sorted at every depth)."""
    params = {k: _number(v) for k, v in body.items() if k not in IGNORED_PARAMS and v is not None}
    dumps = orjson.dumps
    sort = orjson.OPT_SORT_KEYS
    head = dumps(params, option=sort)
    # An explicit null is the same as an absent field (``"name": null``).
    messages = [
        {k: v for k, v in m.items() if v is not None} if isinstance(m, dict) else m
        for m in body.get("messages") or ()
    ]
    scoped = (KEY_VERSION, route.encode(), scope.encode())
    exact = _digest(*scoped, head, dumps(messages, option=sort))
    if embedding_model is None:  # exact caching only: no bucket to compute
        return CacheKey(exact=exact, bucket="", prompt=None)
    prompt: str | None = None
    context = messages
    last = messages[-1] if messages else None
    if isinstance(last, dict) and last.get("role") == "user":
        text = _text_of(last.get("content"))
        if text is not None and text.strip():
            prompt = " ".join(text.split())
            # The last message's other fields (name...) stay in the bucket; its text is what is compared.
            context = [*messages[:-1], {k: v for k, v in last.items() if k != "content"}]
    bucket = _digest(*scoped, embedding_model.encode(), head, dumps(context, option=sort))
    return CacheKey(exact=exact, bucket=bucket, prompt=prompt)
