"""Validation of OpenAI-shaped request bodies. Unknown parameters pass through to providers
(extra="allow"), known ones must have the right types (strict: no "true" for a boolean)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1, le=128)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = None
    user: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)


# The model a prompt reference may name instead of a real one: "use the prompt's model". The
# openai client insists on a model argument; an empty string works as well.
PROMPT_MODEL = "prompt"


class PromptedChatRequest(ChatCompletionRequest):
    """A chat request that names a registry prompt (``"prompt": "support-reply@production"``).

    ``messages`` may be empty (the prompt supplies them; any given are appended after the prompt's),
    and ``model`` may be empty or ``"prompt"`` to use the prompt's own model. Bodies without a
    ``prompt`` key are validated as plain ``ChatCompletionRequest``s, unchanged.
    """

    model: str = ""
    messages: list[Message] = Field(default_factory=list)
    prompt: str = Field(min_length=1, max_length=300)
    variables: dict[str, Any] = Field(default_factory=dict)

    @property
    def wants_prompt_model(self) -> bool:
        return self.model in ("", PROMPT_MODEL)


MAX_EMBEDDING_DIMENSIONS = 16_384


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    model: str = Field(min_length=1)
    input: str | list[str] = Field(min_length=1)
    # Bounded: vectors are built in memory, and no embedding model is wider (OpenAI's widest: 3,072).
    dimensions: int | None = Field(None, ge=1, le=MAX_EMBEDDING_DIMENSIONS)
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None


# Parameters recorded on traces (the rest of the body is the payload, stored per policy).
TRACED_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "tool_choice",
    "response_format",
    "logprobs",
    "top_logprobs",
    "user",
)
