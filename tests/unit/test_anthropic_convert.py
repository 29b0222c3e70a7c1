"""Pure translation OpenAI <-> Anthropic Messages API: requests, answers and stream events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pilothouse.core.errors import ProviderBadResponse, ProviderRateLimited, ProviderUnavailable
from pilothouse.core.types import Usage
from pilothouse.providers.anthropic.convert import (
    ConversionError,
    finish_reason,
    to_chat_completion,
    to_messages_request,
    usage_from,
)
from pilothouse.providers.anthropic.stream import StreamTranslator

pytestmark = pytest.mark.unit

TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "lookup", "description": "Find a thing", "parameters": {"type": "object"}},
}


def convert(messages: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
    return to_messages_request({"messages": messages, **body}, model="claude-x")


# --- requests -------------------------------------------------------------------------------------


def test_minimal_request() -> None:
    out = convert([{"role": "user", "content": "Hi"}])
    assert out == {"model": "claude-x", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hi"}]}


def test_one_system_message_becomes_a_string() -> None:
    out = convert([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert out["system"] == "Be brief."
    assert out["messages"] == [{"role": "user", "content": "Hi"}]


def test_many_system_and_developer_messages_become_blocks() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]},
        {"role": "user", "content": "Hi"},
        {"role": "developer", "content": "C"},
    ]
    out = convert(messages)
    assert out["system"] == [{"type": "text", "text": t} for t in "ABC"]
    assert out["messages"] == [{"role": "user", "content": "Hi"}]


def test_cache_control_passes_through() -> None:
    marker = {"type": "ephemeral"}
    out = convert(
        [
            {
                "role": "system",
                "content": [{"type": "text", "text": "long context", "cache_control": marker}],
            },
            {"role": "user", "content": "Hi"},
        ]
    )
    assert out["system"] == [{"type": "text", "text": "long context", "cache_control": marker}]


def test_consecutive_turns_of_one_role_merge() -> None:
    out = convert(
        [
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": [{"type": "text", "text": "d"}]},
            {"role": "user", "content": "e"},
        ]
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
        {"role": "user", "content": "e"},
    ]


def test_tool_calls_and_results() -> None:
    out = convert(
        [
            {"role": "user", "content": "look two things up"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                    },
                    {"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": ""}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "found x"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "found y"}]},
            {"role": "user", "content": "thanks"},
        ]
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "x"}},
            {"type": "tool_use", "id": "call_2", "name": "lookup", "input": {}},
        ],
    }
    # Both results and the follow-up text share one user turn, results first.
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "found x"},
            {
                "type": "tool_result",
                "tool_use_id": "call_2",
                "content": [{"type": "text", "text": "found y"}],
            },
            {"type": "text", "text": "thanks"},
        ],
    }


@pytest.mark.parametrize("arguments", ["not json", "[1, 2]", "42"])
def test_tool_arguments_must_be_a_json_object(arguments: str) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "lookup", "arguments": arguments}}
    with pytest.raises(ConversionError, match="arguments"):
        convert([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}])


def test_tool_message_needs_an_id() -> None:
    with pytest.raises(ConversionError, match="tool_call_id"):
        convert([{"role": "tool", "content": "orphan"}])


def test_tools_translate_to_input_schema() -> None:
    bare = {"type": "function", "function": {"name": "now"}}
    out = convert([{"role": "user", "content": "x"}], tools=[TOOL, bare])
    assert out["tools"] == [
        {"name": "lookup", "description": "Find a thing", "input_schema": {"type": "object"}},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in out


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "lookup"}}, None, {"type": "tool", "name": "lookup"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
    ],
)
def test_tool_choice(choice: Any, parallel: Any, expected: dict[str, Any]) -> None:
    out = convert(
        [{"role": "user", "content": "x"}], tools=[TOOL], tool_choice=choice, parallel_tool_calls=parallel
    )
    assert out["tool_choice"] == expected


def test_tool_choice_without_tools_is_dropped() -> None:
    assert "tool_choice" not in convert([{"role": "user", "content": "x"}], tool_choice="auto")


def test_unsupported_tool_type() -> None:
    with pytest.raises(ConversionError, match="function tools"):
        convert([{"role": "user", "content": "x"}], tools=[{"type": "code_interpreter"}])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"max_tokens": 50}, 50),
        ({"max_completion_tokens": 70, "max_tokens": 50}, 70),
        ({}, 1024),
    ],
)
def test_max_tokens(body: dict[str, Any], expected: int) -> None:
    assert convert([{"role": "user", "content": "x"}], **body)["max_tokens"] == expected


def test_sampling_stop_and_user() -> None:
    out = convert(
        [{"role": "user", "content": "x"}],
        temperature=1.7,
        top_p=0.5,
        stop=["A", "B"],
        user="u1",
        seed=3,
        frequency_penalty=0.1,
    )
    assert out["temperature"] == 1.0  # clamped into Anthropic's range
    assert out["top_p"] == 0.5
    assert out["stop_sequences"] == ["A", "B"]
    assert out["metadata"] == {"user_id": "u1"}
    assert "seed" not in out
    assert "frequency_penalty" not in out
    assert convert([{"role": "user", "content": "x"}], stop="END")["stop_sequences"] == ["END"]
    assert "stop_sequences" not in convert([{"role": "user", "content": "x"}], stop=None)


def test_images() -> None:
    out = convert(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                ],
            }
        ]
    )
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


@pytest.mark.parametrize("url", ["data:image/png,rawbytes", "ftp://example.com/a.png", ""])
def test_bad_image_urls(url: str) -> None:
    with pytest.raises(ConversionError):
        convert([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])


def test_unsupported_part_and_role() -> None:
    with pytest.raises(ConversionError, match="input_audio"):
        convert([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}])
    with pytest.raises(ConversionError, match="role"):
        convert([{"role": "function", "content": "x"}])
    with pytest.raises(ConversionError, match="image_url"):
        convert([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}])


@pytest.mark.parametrize(
    "body",
    [
        {"max_tokens": "many"},
        {"max_tokens": -1},
        {"temperature": "hot"},
        {"tool_choice": {"function": "x"}, "tools": [TOOL]},
    ],
)
def test_malformed_parameters(body: dict[str, Any]) -> None:
    with pytest.raises(ConversionError):
        convert([{"role": "user", "content": "x"}], **body)


def test_n_above_one_is_refused() -> None:
    with pytest.raises(ConversionError, match="n must be 1"):
        convert([{"role": "user", "content": "x"}], n=3)


def test_trailing_assistant_is_a_prefill_without_trailing_whitespace() -> None:
    out = convert([{"role": "user", "content": "JSON please"}, {"role": "assistant", "content": '{"a": '}])
    assert out["messages"][-1] == {"role": "assistant", "content": '{"a":'}
    with pytest.raises(ConversionError, match="empty"):
        convert([{"role": "user", "content": "x"}, {"role": "assistant", "content": "  "}])


def test_empty_turns_are_dropped() -> None:
    out = convert(
        [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "y"},
        ]
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}
    ]


# --- answers --------------------------------------------------------------------------------------


def answer(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x-20250101",
        "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " world"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 3},
        **overrides,
    }


def test_text_answer() -> None:
    body, usage = to_chat_completion(answer(), model="claude-x")
    assert body["id"] == "msg_1"
    assert body["object"] == "chat.completion"
    assert body["model"] == "claude-x-20250101"
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "Hello world"}, "finish_reason": "stop"}
    ]
    assert usage == Usage(prompt_tokens=10, completion_tokens=3)
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}


def test_tool_use_answer() -> None:
    content = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x", "n": 2}},
    ]
    body, _ = to_chat_completion(answer(content=content, stop_reason="tool_use"), model="claude-x")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call == {
        "id": "toolu_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": call["function"]["arguments"]},
    }
    assert json.loads(call["function"]["arguments"]) == {"q": "x", "n": 2}


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reason(stop_reason: Any, expected: str) -> None:
    assert finish_reason(stop_reason) == expected


def test_usage_with_cache() -> None:
    usage = usage_from(
        {
            "input_tokens": 5,
            "output_tokens": 7,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
        }
    )
    assert usage == Usage(prompt_tokens=125, completion_tokens=7, cached_tokens=100)
    assert usage_from(None) == Usage()


@pytest.mark.parametrize("data", [None, [], {"content": "text"}, {"content": ["not a block"]}])
def test_malformed_answers(data: Any) -> None:
    with pytest.raises(ConversionError):
        to_chat_completion(data, model="claude-x")


# --- stream events --------------------------------------------------------------------------------


def feed_all(events: list[dict[str, Any]]) -> tuple[StreamTranslator, list[dict[str, Any]]]:
    translator = StreamTranslator("claude", "claude-x")
    return translator, [chunk for event in events for chunk in translator.feed(event)]


START = {
    "type": "message_start",
    "message": {"id": "msg_s", "model": "claude-x-1", "usage": {"input_tokens": 12, "output_tokens": 1}},
}


def test_stream_text_events() -> None:
    translator, chunks = feed_all(
        [
            START,
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "ping"},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
            {"type": "message_stop"},
        ]
    )
    assert translator.finished
    assert [c["choices"][0]["delta"] for c in chunks[:-2]] == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
        {"content": " there"},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
    assert {c["id"] for c in chunks} == {"msg_s"}
    assert {c["model"] for c in chunks} == {"claude-x-1"}


def test_stream_parallel_tool_calls_get_their_own_indexes() -> None:
    def tool(index: int, name: str) -> dict[str, Any]:
        block = {"type": "tool_use", "id": f"toolu_{index}", "name": name, "input": {}}
        return {"type": "content_block_start", "index": index, "content_block": block}

    def args(index: int, piece: str) -> dict[str, Any]:
        return {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "input_json_delta", "partial_json": piece},
        }

    _, chunks = feed_all(
        [
            START,
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            tool(1, "a"),
            args(1, ""),
            args(1, '{"x"'),
            args(1, ": 1}"),
            tool(2, "b"),
            args(2, "{}"),
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
            {"type": "message_stop"},
        ]
    )
    deltas = [d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls", [])]
    by_index: dict[int, str] = {}
    for d in deltas:
        by_index[d["index"]] = by_index.get(d["index"], "") + d["function"]["arguments"]
    assert by_index == {0: '{"x": 1}', 1: "{}"}
    assert [d["function"].get("name") for d in deltas if "id" in d] == ["a", "b"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_usage_from_message_delta_wins() -> None:
    translator, _ = feed_all(
        [
            START,
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 8, "input_tokens": 12, "cache_read_input_tokens": 30},
            },
            {"type": "message_stop"},
        ]
    )
    assert translator.usage == Usage(prompt_tokens=42, completion_tokens=8, cached_tokens=30)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("overloaded_error", ProviderUnavailable),
        ("rate_limit_error", ProviderRateLimited),
        ("api_error", ProviderBadResponse),
    ],
)
def test_stream_error_events(kind: str, error: type[Exception]) -> None:
    translator = StreamTranslator("claude", "claude-x")
    translator.feed(START)
    with pytest.raises(error, match="boom"):
        translator.feed({"type": "error", "error": {"type": kind, "message": "boom"}})


def test_stream_events_before_message_start_are_malformed() -> None:
    with pytest.raises(ProviderBadResponse, match="before message_start"):
        StreamTranslator("claude", "claude-x").feed({"type": "content_block_delta", "index": 0, "delta": {}})


def test_stream_unknown_events_and_deltas_are_skipped() -> None:
    translator, chunks = feed_all(
        [
            START,
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": ""},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"},
            },
            {"type": "some_future_event"},
        ]
    )
    assert len(chunks) == 1
    assert not translator.finished
