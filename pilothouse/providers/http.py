"""Shared plumbing for HTTP providers: a pooled keep-alive aiohttp session and error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field

from pilothouse.core.errors import (
    ProviderBadResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    provider_error_for_status,
)


class HTTPProviderOptions(BaseModel):
    """What every HTTP provider's options share."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers sent with every call")
    max_connections: int = Field(1000, gt=0, description="pooled keep-alive connections")
    connect_timeout: float = Field(10.0, gt=0)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None  # an HTTP date: rare from model APIs, left to the default backoff
    return None


def upstream_message(body: bytes, status: int) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or f"upstream returned HTTP {status}"
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if data.get("message"):
            return str(data["message"])
    return f"upstream returned HTTP {status}"


class HTTPClient:
    """One pooled session per provider, created on first use inside the running loop."""

    def __init__(
        self,
        provider: str,
        *,
        base_url: str,
        headers: dict[str, str],
        max_connections: int,
        connect_timeout: float,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._headers = {"content-type": "application/json", **headers}
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ttl_dns_cache=300, keepalive_timeout=60
            )
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self._headers, json_serialize=lambda o: orjson.dumps(o).decode()
            )
        return self._session

    @asynccontextmanager
    async def request(
        self, method: str, path: str, *, json: Any = None, timeout: float | None = None, stream: bool = False
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a request (``path`` under the base URL, or absolute); failures raise ``ProviderError``s.

        For streams ``timeout`` bounds the wait for each read (an idle window), not the whole answer.
        """
        client_timeout = (
            aiohttp.ClientTimeout(total=None, connect=self._connect_timeout, sock_read=timeout)
            if stream
            else aiohttp.ClientTimeout(total=timeout, connect=self._connect_timeout)
        )
        data = orjson.dumps(json) if json is not None else None
        try:
            url = path if path.startswith("http") else self.base_url + path
            async with self.session().request(method, url, data=data, timeout=client_timeout) as response:
                if response.status >= 400:
                    body = await response.read()
                    raise provider_error_for_status(
                        response.status,
                        upstream_message(body, response.status),
                        provider=self.provider,
                        retry_after=retry_after_seconds(response.headers),
                    )
                yield response
        except ProviderError:
            raise
        except TimeoutError:
            raise ProviderTimeout(f"{self.provider}: upstream timed out", provider=self.provider) from None
        except (aiohttp.ClientPayloadError, HttpProcessingError) as exc:  # e.g. an SSE line over 512 KiB
            raise ProviderBadResponse(
                f"{self.provider}: broken response: {exc}", provider=self.provider
            ) from None
        except aiohttp.ClientError as exc:
            raise ProviderUnavailable(
                f"{self.provider}: connection failed: {exc}", provider=self.provider
            ) from None

    async def json(self, method: str, path: str, *, json: Any = None, timeout: float | None = None) -> Any:
        async with self.request(method, path, json=json, timeout=timeout) as response:
            body = await response.read()
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ProviderBadResponse(
                f"{self.provider}: upstream sent invalid JSON", provider=self.provider, upstream_status=200
            ) from None

    async def model_ids(self, path: str) -> list[str]:
        """The ids of an OpenAI-style model list (``{"data": [{"id": ...}]}``), as both APIs answer."""
        data = await self.json("GET", path, timeout=10.0)
        items = data.get("data") if isinstance(data, dict) else None
        return [str(m["id"]) for m in items or [] if isinstance(m, dict) and "id" in m]

    @classmethod
    def for_provider(
        cls, provider: str, options: HTTPProviderOptions, *, base_url: str, headers: dict[str, str]
    ) -> HTTPClient:
        """A client with the shared options applied; ``headers`` are the provider's own (auth...)."""
        return cls(
            provider,
            base_url=base_url,
            headers={**options.headers, **headers},
            max_connections=options.max_connections,
            connect_timeout=options.connect_timeout,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HTTPProvider:
    """What every HTTP provider does the same way: health is "the model list answers", and closing
    releases the pooled session."""

    _http: HTTPClient

    async def list_models(self) -> list[str]:
        raise NotImplementedError

    async def health(self) -> bool:
        try:
            await self.list_models()
        except Exception:
            return False
        return True

    async def aclose(self) -> None:
        await self._http.aclose()
