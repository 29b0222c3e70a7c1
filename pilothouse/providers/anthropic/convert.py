"""Pure translation between OpenAI chat bodies and the Anthropic Messages API (no I/O).

Requests: system/developer messages become the top-level ``system``; ``tool`` messages become user
turns of ``tool_result`` blocks; assistant ``tool_calls`` become ``tool_use`` blocks; consecutive
turns of one role are merged, because Anthropic expects user and assistant to alternate.
Responses: text blocks are joined into ``message.content`` and ``tool_use`` blocks become
``tool_calls``. Anything that cannot be expressed raises ``ConversionError``; the adapter turns it
into the right ``ProviderError`` (it knows its name and which direction failed).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from pilothouse.core.types import JSON, Usage

DEFAULT_MAX_TOKENS = 1024

# Anthropic stop reasons -> OpenAI finish reasons; anything unknown reads as a normal stop.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_TOOL_CHOICES: dict[str, JSON] = {
    "auto": {"type": "auto"},
    "none": {"type": "none"},
    "required": {"type": "any"},
}


class ConversionError(ValueError):
    """The body cannot be expressed in the other API."""


# --- requests ------------------------------------------------------------------------------------


def to_messages_request(body: JSON, *, model: str, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> JSON:
    """Translate an OpenAI chat request body into a Messages API body (without ``stream``)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise ConversionError("messages must be a list")
    if body.get("n") not in (None, 1):
        raise ConversionError("Anthropic returns a single choice: n must be 1")
    system, turns = _turns(messages)
    # OpenAI prefers max_completion_tokens (max_tokens is deprecated); Anthropic requires one.
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ConversionError("max_tokens must be a positive integer")
    out: JSON = {"model": model, "max_tokens": max_tokens, "messages": turns}
    if system:
        only = system[0]
        out["system"] = only["text"] if len(system) == 1 and "cache_control" not in only else system
    temperature = body.get("temperature")
    if temperature is not None:
        if not isinstance(temperature, int | float) or isinstance(temperature, bool):
            raise ConversionError("temperature must be a number")
        # OpenAI accepts 0..2, Anthropic 0..1: clamp so one request body works on either route.
        out["temperature"] = min(max(float(temperature), 0.0), 1.0)
    for key in ("top_p", "top_k"):  # top_k is not OpenAI's, but vLLM-style clients send it
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = [str(s) for s in stop]
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    tools = body.get("tools")
    if tools:
        out["tools"] = _tools(tools)
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    # response_format has no Messages API equivalent; the gateway's output validation covers it.
    return out


def _turns(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    """Split OpenAI messages into system text blocks and alternating Anthropic turns."""
    system: list[JSON] = []
    turns: list[JSON] = []
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise ConversionError(f"{where} must be an object")
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_blocks(msg.get("content"), where, text_only=True))
            continue
        if role == "user":
            target, blocks = "user", _blocks(msg.get("content"), where)
        elif role == "assistant":
            target, blocks = "assistant", _assistant_blocks(msg, where)
        elif role == "tool":
            target, blocks = "user", [_tool_result(msg, where)]
        else:
            raise ConversionError(f"{where}.role {role!r} is not supported")
        if not blocks:
            continue  # Anthropic rejects empty turns
        if turns and turns[-1]["role"] == target:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": target, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            # Tool results must open a user turn; a stable sort keeps the rest in order.
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    if turns and turns[-1]["role"] == "assistant":
        _trim_prefill(turns[-1]["content"])
    for turn in turns:
        blocks = turn["content"]
        if len(blocks) == 1 and blocks[0]["type"] == "text" and "cache_control" not in blocks[0]:
            turn["content"] = blocks[0]["text"]  # the plain string form, as most callers write it
    return system, turns


def _trim_prefill(blocks: list[JSON]) -> None:
    """A trailing assistant turn is a prefill Anthropic continues; it rejects trailing whitespace."""
    last = blocks[-1]
    if last["type"] == "text":
        last["text"] = last["text"].rstrip()
        if not last["text"]:
            blocks.pop()
            if not blocks:
                raise ConversionError("the final assistant message is empty")


def _blocks(content: Any, where: str, *, text_only: bool = False) -> list[JSON]:
    """OpenAI content (string, parts or null) -> Anthropic content blocks, empty text dropped."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise ConversionError(f"{where}.content must be a string or a list of parts")
    out: list[JSON] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            text = part.get(kind)
            if not isinstance(text, str):
                raise ConversionError(f"{at}.{kind} must be a string")
            if text:
                block: JSON = {"type": "text", "text": text}
                if isinstance(part.get("cache_control"), dict):
                    block["cache_control"] = part["cache_control"]  # prompt caching passes through
                out.append(block)
        elif kind == "image_url" and not text_only:
            out.append(_image_block(part, at))
        else:
            raise ConversionError(f"{at}: content part type {kind!r} is not supported here")
    return out


def _image_block(part: JSON, where: str) -> JSON:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise ConversionError(f"{where}.image_url.url is missing")
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media_type, *params = header.split(";")
        if not comma or "base64" not in params or not media_type:
            raise ConversionError(f"{where}: only base64 data URLs with a media type are supported")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise ConversionError(f"{where}: image URL must be a data: or http(s): URL")


def _assistant_blocks(msg: JSON, where: str) -> list[JSON]:
    blocks = _blocks(msg.get("content"), where, text_only=True)
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        raise ConversionError(f"{where}.tool_calls must be a list")
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not call.get("id") or not fn.get("name"):
            raise ConversionError(f"{at} needs an id and a function name")
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": fn["name"],
                "input": _arguments(fn.get("arguments"), at),
            }
        )
    return blocks


def _arguments(arguments: Any, where: str) -> JSON:
    """OpenAI sends arguments as a JSON string; Anthropic wants the object itself."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str | bytes) else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ConversionError(f"{where}.function.arguments must be a JSON object")
    return value


def _tool_result(msg: JSON, where: str) -> JSON:
    tool_call_id = msg.get("tool_call_id")
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise ConversionError(f"{where}.tool_call_id is missing")
    block: JSON = {"type": "tool_result", "tool_use_id": tool_call_id}
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif content is not None:
        parts = _blocks(content, where)
        if parts:
            block["content"] = parts
    return block


def _tools(tools: Any) -> list[JSON]:
    if not isinstance(tools, list):
        raise ConversionError("tools must be a list")
    out: list[JSON] = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ConversionError(f"tools[{i}]: only function tools with a name are supported")
        spec: JSON = {
            "name": fn["name"],
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            spec["description"] = fn["description"]
        out.append(spec)
    return out


def _tool_choice(choice: Any, parallel: Any) -> JSON | None:
    if choice is None:
        result = None
    elif isinstance(choice, str) and choice in _TOOL_CHOICES:
        result = dict(_TOOL_CHOICES[choice])
    elif isinstance(choice, dict) and isinstance(fn := choice.get("function"), dict) and fn.get("name"):
        result = {"type": "tool", "name": str(fn["name"])}
    else:
        raise ConversionError(f"tool_choice {choice!r} is not supported")
    if parallel is False and (result is None or result["type"] != "none"):
        result = {**(result or {"type": "auto"}), "disable_parallel_tool_use": True}
    return result


# --- responses -----------------------------------------------------------------------------------


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def usage_from(data: Any) -> Usage:
    """Anthropic counts cache reads and writes apart from ``input_tokens``; OpenAI's prompt total
    includes them, with reads reported again as ``cached_tokens``."""
    if not isinstance(data, dict):
        return Usage()
    cache_read = int(data.get("cache_read_input_tokens") or 0)
    cache_write = int(data.get("cache_creation_input_tokens") or 0)
    return Usage(
        prompt_tokens=int(data.get("input_tokens") or 0) + cache_read + cache_write,
        completion_tokens=int(data.get("output_tokens") or 0),
        cached_tokens=cache_read,
    )


def tool_call(block: JSON, arguments: str) -> JSON:
    return {
        "id": block.get("id"),
        "type": "function",
        "function": {"name": block.get("name"), "arguments": arguments},
    }


def to_chat_completion(data: Any, *, model: str) -> tuple[JSON, Usage]:
    """Translate a Messages API answer into an OpenAI ``chat.completion`` body and its usage."""
    content = data.get("content") if isinstance(data, dict) else None
    if not isinstance(content, list):
        raise ConversionError("answer has no content list")
    texts: list[str] = []
    calls: list[JSON] = []
    for block in content:
        if not isinstance(block, dict):
            raise ConversionError("answer has a malformed content block")
        if block.get("type") == "text":
            texts.append(str(block.get("text") or ""))
        elif block.get("type") == "tool_use":
            calls.append(tool_call(block, orjson.dumps(block.get("input") or {}).decode()))
        # thinking and server-tool blocks have no OpenAI field: left out on purpose
    text = "".join(texts)
    message: JSON = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    usage = usage_from(data.get("usage"))
    body: JSON = {
        "id": str(data.get("id") or ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(data.get("model") or model),
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason(data.get("stop_reason"))}
        ],
        "usage": usage.to_openai(),
    }
    return body, usage
