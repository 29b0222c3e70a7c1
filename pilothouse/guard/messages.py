"""The text inside OpenAI-shaped chat messages: where guards look and what redaction rewrites.

Message content is a string or a list of parts (``{"type": "text", "text": ...}``); assistant
messages may carry tool calls whose ``arguments`` are a JSON string. Guards read all of it;
rewrites return new structures and never mutate the client's body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

# Roles whose text is the user's (input guards) and whose text came from tools or retrieval
# (context guards: indirect injection lives there). System and developer prompts are the
# application's own: they are redacted like everything else but not judged as attacks.
USER_ROLES = frozenset({"user"})
CONTEXT_ROLES = frozenset({"tool", "function"})


def texts_of(message: dict[str, Any]) -> Iterator[str]:
    """Every piece of text in one message: content (string or text parts) and tool arguments."""
    content = message.get("content")
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            yield function["arguments"]


def map_texts(message: dict[str, Any], rewrite: Callable[[str], str]) -> dict[str, Any]:
    """A copy of ``message`` with ``rewrite`` applied to every piece of text ``texts_of`` yields."""
    out = dict(message)
    content = message.get("content")
    if isinstance(content, str):
        out["content"] = rewrite(content)
    elif isinstance(content, list):
        out["content"] = [
            {**part, "text": rewrite(part["text"])}
            if isinstance(part, dict) and isinstance(part.get("text"), str)
            else part
            for part in content
        ]
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        out["tool_calls"] = [_map_call(call, rewrite) for call in calls]
    return out


def _map_call(call: Any, rewrite: Callable[[str], str]) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
        return call
    return {**call, "function": {**function, "arguments": rewrite(function["arguments"])}}


def answer_text(message: dict[str, Any] | None) -> str:
    """The text of an answer message (its content; tool arguments are judged by tool governance)."""
    if not message:
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
