"""Thin ASGI plumbing for the hot path: bounded body reads, JSON and error responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from pilothouse.core.errors import MalformedJSON, PilothouseError, RequestTooLarge, ValidationFailed

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TRACE_HEADER = b"x-pilothouse-trace-id"
JSON_HEADERS = [(b"content-type", b"application/json")]


class ClientGone(Exception):
    """The client disconnected before the request body arrived."""


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"Request body is larger than the limit of {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body = message.get("body", b"")
        if body:
            size += len(body)
            if size > limit:
                raise RequestTooLarge(f"Request body is larger than the limit of {limit} bytes.")
            chunks.append(body)
        if not message.get("more_body", False):
            return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise MalformedJSON("The request body is empty; expected a JSON object.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedJSON("The request body must be a JSON object.")
    return data


M = TypeVar("M", bound=BaseModel)


async def read_request(
    scope: Scope, receive: Receive, limit: int, schema: type[M]
) -> tuple[dict[str, Any], M]:
    """The body as a dict (forwarded as is) and validated against ``schema``: 400, 413 or 422."""
    data = parse_json_object(await read_body(scope, receive, limit))
    return data, validate_request(data, schema)


def validate_request(data: dict[str, Any], schema: type[M]) -> M:
    """``data`` validated against ``schema``, or a 422 naming the first bad parameter."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> ValidationFailed:
    """The first problem, named by its parameter path as OpenAI does (``messages[0].role``)."""
    first = exc.errors()[0]
    param = ""
    for part in first["loc"]:
        param += f"[{part}]" if isinstance(part, int) else (f".{part}" if param else str(part))
    return ValidationFailed(f"Invalid value for '{param}': {first['msg']}.", param=param or None)


async def send_json(
    send: Send,
    status: int,
    payload: Any,
    *,
    trace_id: str | None = None,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    body = orjson.dumps(payload)
    out = [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *headers]
    if trace_id is not None:
        out.append((TRACE_HEADER, trace_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: PilothouseError, *, trace_id: str | None = None) -> None:
    await send_json(send, error.status, error.to_dict(), trace_id=trace_id, headers=error.headers())
