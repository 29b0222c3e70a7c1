"""The Anthropic Messages API adapter: OpenAI-shaped calls in, OpenAI-shaped answers out."""

from __future__ import annotations

import orjson
from pydantic import Field

from pilothouse.core.config import Secret
from pilothouse.core.errors import ProviderBadResponse, ProviderRejected
from pilothouse.core.types import JSON, ChatCall, ChatResult, ChunkStream, EmbedCall, EmbedResult
from pilothouse.providers.anthropic.convert import (
    DEFAULT_MAX_TOKENS,
    ConversionError,
    to_chat_completion,
    to_messages_request,
)
from pilothouse.providers.anthropic.stream import StreamTranslator
from pilothouse.providers.http import HTTPClient, HTTPProvider, HTTPProviderOptions
from pilothouse.providers.sse import sse_events


class AnthropicOptions(HTTPProviderOptions):
    base_url: str = Field("https://api.anthropic.com", description="without the /v1 suffix")
    api_key: Secret | None = Field(None, description="sent as the x-api-key header")
    anthropic_version: str = "2023-06-01"
    default_max_tokens: int = Field(
        DEFAULT_MAX_TOKENS,
        gt=0,
        description="when a request sets neither max_tokens nor max_completion_tokens",
    )


class AnthropicProvider(HTTPProvider):
    Options = AnthropicOptions

    def __init__(self, name: str, options: AnthropicOptions) -> None:
        self.name = name
        self._default_max_tokens = options.default_max_tokens
        headers = {"anthropic-version": options.anthropic_version}
        if options.api_key is not None:
            headers["x-api-key"] = options.api_key.get_secret_value()
        self._http = HTTPClient.for_provider(name, options, base_url=options.base_url, headers=headers)

    def _request(self, call: ChatCall) -> JSON:
        try:
            return to_messages_request(
                call.body, model=call.model, default_max_tokens=self._default_max_tokens
            )
        except ConversionError as exc:
            # Not retryable on this provider; routing may still fall back to one that takes it.
            raise ProviderRejected(f"{self.name}: {exc}", provider=self.name) from None

    async def chat(self, call: ChatCall) -> ChatResult:
        body = self._request(call)
        data = await self._http.json("POST", "/v1/messages", json=body, timeout=call.timeout)
        try:
            answer, usage = to_chat_completion(data, model=call.model)
        except ConversionError as exc:
            raise ProviderBadResponse(
                f"{self.name}: {exc}", provider=self.name, upstream_status=200
            ) from None
        return ChatResult(body=answer, usage=usage)

    async def stream(self, call: ChatCall) -> ChunkStream:
        body = {**self._request(call), "stream": True}
        translator = StreamTranslator(self.name, call.model)
        async with self._http.request(
            "POST", "/v1/messages", json=body, timeout=call.timeout, stream=True
        ) as response:
            async for _event, data in sse_events(response):
                try:
                    event = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise ProviderBadResponse(
                        f"{self.name}: malformed stream event", provider=self.name
                    ) from None
                if not isinstance(event, dict):
                    raise ProviderBadResponse(f"{self.name}: malformed stream event", provider=self.name)
                for chunk in translator.feed(event):
                    yield chunk
                if translator.finished:
                    return
        # A clean end of the body without message_stop is still a truncated answer.
        raise ProviderBadResponse(f"{self.name}: stream ended before message_stop", provider=self.name)

    async def embed(self, call: EmbedCall) -> EmbedResult:
        raise ProviderRejected(
            f"{self.name}: Anthropic has no embeddings API; route embedding models to another provider",
            provider=self.name,
        )

    async def list_models(self) -> list[str]:
        return await self._http.model_ids("/v1/models?limit=1000")
