"""The harness's HTTP client for the gateway: OpenAI wire format, the eval run stamped on every request.

Every request carries ``x-pilothouse-eval-run`` (the gateway may record it on the trace) and
``cache-control: no-cache, no-store``: the harness has its own content-addressed cache, and a gateway
response cache answering repeats would hide the sampling noise that ``repeat`` exists to measure.
Connection failures and 429/503 answers are retried a few times (honouring ``Retry-After``); any
other error comes back as a failed ``ChatReply`` for the result to record.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from pilothouse.evals.types import ChatReply

TRACE_HEADER = "x-pilothouse-trace-id"
RUN_HEADER = "x-pilothouse-eval-run"
RETRY_STATUSES = (429, 503)


class GatewayError(Exception):
    """An embeddings call (for a scorer) failed."""


def _error_text(status: int, body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return f"HTTP {status} {err.get('code') or err.get('type')}: {err.get('message')}"
    return f"HTTP {status}"


class GatewayClient:
    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        run_id: str | None = None,
        timeout: float = 120.0,
        retries: int = 3,
        connections: int = 64,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "authorization": f"Bearer {key}",
            "cache-control": "no-cache, no-store",
            **({RUN_HEADER: run_id} if run_id else {}),
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> GatewayClient:
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(limit=self._connections),
            json_serialize=lambda o: orjson.dumps(o).decode(),
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("GatewayClient is not open: use `async with GatewayClient(...)`")
        return self._session

    async def _post(self, path: str, body: dict[str, Any]) -> ChatReply:
        attempt = 0
        while True:
            attempt += 1
            start = time.perf_counter()
            try:
                async with self._http().post(self.base_url + path, json=body) as r:
                    raw = await r.read()
                    latency = (time.perf_counter() - start) * 1000
                    trace_id = r.headers.get(TRACE_HEADER)
                    try:
                        data = orjson.loads(raw) if raw else {}
                    except orjson.JSONDecodeError:
                        data = {"raw": raw[:500].decode("utf-8", "replace")}
                    if r.status in RETRY_STATUSES and attempt <= self._retries:
                        await asyncio.sleep(self._backoff(attempt, r.headers.get("retry-after")))
                        continue
                    error = None if r.status == 200 else _error_text(r.status, data)
                    return ChatReply(
                        r.status, data if isinstance(data, dict) else {}, trace_id, latency, error
                    )
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                if attempt <= self._retries:
                    await asyncio.sleep(self._backoff(attempt, None))
                    continue
                latency = (time.perf_counter() - start) * 1000
                return ChatReply(0, {}, None, latency, f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _backoff(attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(30.0, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return float(min(10.0, 0.25 * 2 ** (attempt - 1)))

    async def chat(self, body: dict[str, Any]) -> ChatReply:
        return await self._post("/v1/chat/completions", body)

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        reply = await self._post("/v1/embeddings", {"model": model, "input": inputs})
        if not reply.ok:
            raise GatewayError(f"embeddings with {model!r} failed: {reply.error}")
        data = sorted(reply.body.get("data") or [], key=lambda d: d.get("index", 0))
        return [list(map(float, d["embedding"])) for d in data]
