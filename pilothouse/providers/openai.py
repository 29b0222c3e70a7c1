"""Any OpenAI-compatible server (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp server, Groq, ...).

Request bodies are forwarded as they are, so tools, ``response_format`` and new parameters pass
through; the adapter only sets the upstream model name and asks streams for usage.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import Field

from pilothouse.core.config import Secret
from pilothouse.core.errors import ProviderBadResponse
from pilothouse.core.types import ChatCall, ChatResult, ChunkStream, EmbedCall, EmbedResult, Usage
from pilothouse.providers.http import HTTPClient, HTTPProvider, HTTPProviderOptions
from pilothouse.providers.sse import sse_events


class OpenAIOptions(HTTPProviderOptions):
    base_url: str = "https://api.openai.com/v1"
    api_key: Secret | None = None
    organization: str | None = None
    api_version: str | None = Field(None, description="Azure OpenAI: sent as the api-version query parameter")
    azure: bool = Field(False, description="send the key as 'api-key' (Azure) instead of a bearer token")


class OpenAIProvider(HTTPProvider):
    Options = OpenAIOptions

    def __init__(self, name: str, options: OpenAIOptions) -> None:
        self.name = name
        headers: dict[str, str] = {}
        if options.api_key is not None:
            secret = options.api_key.get_secret_value()
            if options.azure:
                headers["api-key"] = secret
            else:
                headers["authorization"] = f"Bearer {secret}"
        if options.organization:
            headers["openai-organization"] = options.organization
        self._query = f"?api-version={options.api_version}" if options.api_version else ""
        # Azure lists models per resource (/openai/models), not under a deployment's base URL.
        base = options.base_url.rstrip("/")
        if options.azure and "/deployments/" in base:
            self._models_path = base.split("/deployments/")[0] + "/models" + self._query
        else:
            self._models_path = self._path("/models")
        self._http = HTTPClient.for_provider(name, options, base_url=options.base_url, headers=headers)

    def _path(self, path: str) -> str:
        return path + self._query

    async def chat(self, call: ChatCall) -> ChatResult:
        body = {**call.body, "model": call.model, "stream": False}
        body.pop("stream_options", None)
        data = await self._http.json("POST", self._path("/chat/completions"), json=body, timeout=call.timeout)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ProviderBadResponse(f"{self.name}: answer has no choices", provider=self.name)
        return ChatResult(body=data, usage=Usage.from_openai(data.get("usage")))

    async def stream(self, call: ChatCall) -> ChunkStream:
        # Always ask for usage: traces and cost need it; the gateway hides it if the client did not ask.
        body = {**call.body, "model": call.model, "stream": True, "stream_options": {"include_usage": True}}
        async with self._http.request(
            "POST", self._path("/chat/completions"), json=body, timeout=call.timeout, stream=True
        ) as response:
            done = finished = False
            async for _event, data in sse_events(response):
                if data == b"[DONE]":
                    done = True
                    break
                try:
                    chunk = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise ProviderBadResponse(
                        f"{self.name}: malformed stream event", provider=self.name
                    ) from None
                if not isinstance(chunk, dict):
                    raise ProviderBadResponse(f"{self.name}: malformed stream event", provider=self.name)
                if "error" in chunk:
                    raise ProviderBadResponse(
                        f"{self.name}: upstream error mid-stream: {chunk['error']}", provider=self.name
                    )
                finished = finished or any(
                    isinstance(c, dict) and c.get("finish_reason") for c in chunk.get("choices") or ()
                )
                yield chunk
            # Some servers omit [DONE]; a finish_reason already says the answer is complete.
            if not (done or finished):
                raise ProviderBadResponse(
                    f"{self.name}: stream ended before the answer finished", provider=self.name
                )

    async def embed(self, call: EmbedCall) -> EmbedResult:
        body: dict[str, Any] = {"model": call.model, "input": call.inputs, "encoding_format": "float"}
        if call.dimensions is not None:
            body["dimensions"] = call.dimensions
        data = await self._http.json("POST", self._path("/embeddings"), json=body, timeout=call.timeout)
        try:
            items = sorted(data["data"], key=lambda d: d["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError):
            raise ProviderBadResponse(
                f"{self.name}: malformed embeddings answer", provider=self.name
            ) from None
        return EmbedResult(vectors=vectors, usage=Usage.from_openai(data.get("usage")))

    async def list_models(self) -> list[str]:
        return await self._http.model_ids(self._models_path)
