"""Token estimates before a call (admission, context-window checks). Exact counts come from the
provider's usage afterwards; this errs high so limits and windows are not undercounted."""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 3.5  # English averages ~4 characters a token; lower errs on the safe side
MESSAGE_OVERHEAD = 4  # role and separators per message, as OpenAI's chat format counts them


def estimate_text_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1 if text else 0


def content_text(content: Any) -> str:
    """The text of a message's content (a string, or text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """Messages plus tool definitions of an OpenAI-shaped chat body."""
    total = 3
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        total += MESSAGE_OVERHEAD + estimate_text_tokens(content_text(message.get("content")))
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict):
                total += estimate_text_tokens(str(call.get("function", "")))
    if body.get("tools"):
        total += estimate_text_tokens(str(body["tools"]))
    return total


def requested_output_tokens(body: dict[str, Any], default: int = 0) -> int:
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(value) if isinstance(value, int) and value > 0 else default
