"""``guard.redact`` and ``guard.stream_redact``: placeholders, restoration, JSON walking, streams."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pilothouse.guard.pii import PIIScanner
from pilothouse.guard.redact import Redactor
from pilothouse.guard.stream_redact import HOLD_CAP, StreamRedactor

pytestmark = pytest.mark.unit

SCANNER = PIIScanner()
CARD = "4111 1111 1111 1111"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAq8Zr2LmX9vT4kP1sW7nB3yH6\n-----END RSA PRIVATE KEY-----"
)


def stream(streamer: StreamRedactor, chunks: list[str]) -> list[str]:
    return [streamer.feed(chunk) for chunk in chunks] + [streamer.flush()]


def test_placeholders_numbered_per_entity_in_order_of_first_appearance() -> None:
    redactor = Redactor(SCANNER)
    text, findings = redactor.redact(f"a@x.io then {CARD} then b@x.io then a@x.io")
    assert text == "<EMAIL_1> then <CREDIT_CARD_1> then <EMAIL_2> then <EMAIL_1>"
    assert [f.entity for f in findings] == ["EMAIL", "CREDIT_CARD", "EMAIL", "EMAIL"]
    assert dict(redactor.mapping) == {"<EMAIL_1>": "a@x.io", "<CREDIT_CARD_1>": CARD, "<EMAIL_2>": "b@x.io"}
    assert set(redactor.values) == {"a@x.io", "b@x.io", CARD}


def test_same_value_same_placeholder_across_messages() -> None:
    redactor = Redactor(SCANNER)
    assert redactor.redact("from b@x.io")[0] == "from <EMAIL_1>"
    assert redactor.redact("to c@x.io cc b@x.io")[0] == "to <EMAIL_2> cc <EMAIL_1>"


def test_text_without_findings_is_the_same_string() -> None:
    redactor = Redactor(SCANNER)
    text = "".join(["nothing ", "to see here"])  # a fresh string, not an interned constant
    redacted, findings = redactor.redact(text)
    assert redacted is text and findings == []
    assert redactor.restore(text) is text


def test_restore_puts_values_back_and_leaves_unknown_placeholders() -> None:
    redactor = Redactor(SCANNER)
    redactor.redact(f"mail b@x.io, card {CARD}")
    assert redactor.restore("I wrote <EMAIL_1> about <CREDIT_CARD_1>, not <EMAIL_7> or <NAME>.") == (
        f"I wrote b@x.io about {CARD}, not <EMAIL_7> or <NAME>."
    )


def test_mapping_is_read_only() -> None:
    redactor = Redactor(SCANNER)
    redactor.redact("b@x.io")
    with pytest.raises(TypeError):
        redactor.mapping["<EMAIL_1>"] = "else"  # type: ignore[index]


def test_a_known_value_is_replaced_where_the_scanner_alone_would_not_flag_it() -> None:
    redactor = Redactor(SCANNER)
    assert redactor.redact("call me on 4155552671")[0] == "call me on <PHONE_1>"
    assert SCANNER.scan("the number 4155552671 again") == []  # no context word: too weak alone
    redacted, findings = redactor.redact("the number 4155552671 again")
    assert redacted == "the number <PHONE_1> again"
    assert findings[0].detector == "known-value"
    # Within one text too, whichever copy the scanner flags.
    fresh = Redactor(SCANNER)
    assert fresh.redact("4155552671, yes, call 4155552671")[0] == "<PHONE_1>, yes, call <PHONE_1>"


def test_keep_leaves_given_values_alone() -> None:
    redactor = Redactor(SCANNER)
    redactor.redact("b@x.io")
    text, findings = redactor.redact("b@x.io and c@x.io", keep={"b@x.io"})
    assert text == "b@x.io and <EMAIL_2>"
    assert [f.entity for f in findings] == ["EMAIL"]


def test_redact_json_walks_openai_messages() -> None:
    redactor = Redactor(SCANNER)
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "I am b@x.io"}, {"type": "image_url"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"function": {"name": "pay", "arguments": f'{{"card": "{CARD}", "n": 2}}'}}],
            },
            {"role": "tool", "content": "sent to b@x.io"},
        ],
    }
    original = copy.deepcopy(body)
    redacted, findings = redactor.redact_json(body)
    assert body == original  # the input is not touched
    messages = redacted["messages"]
    assert messages[1]["content"][0]["text"] == "I am <EMAIL_1>"
    assert messages[2]["tool_calls"][0]["function"]["arguments"] == '{"card": "<CREDIT_CARD_1>", "n": 2}'
    assert messages[3]["content"] == "sent to <EMAIL_1>"
    assert redacted["temperature"] == 0.2 and messages[2]["content"] is None
    assert redacted is not body and messages is not body["messages"]
    assert [f.entity for f in findings] == ["EMAIL", "CREDIT_CARD", "EMAIL"]
    again, found = redactor.redact_json(("a", ["b@x.io"]))
    assert again == ("a", ["<EMAIL_1>"]) and [f.entity for f in found] == ["EMAIL"]


def test_stream_restores_placeholders_split_across_chunks() -> None:
    redactor = Redactor(SCANNER)
    redactor.redact("mail b@x.io")
    streamer = StreamRedactor(redactor, restore=True, redact=False)
    chunks = ["Dear <EMA", "IL_1", ">, and <EMAIL_", "9> and <", "not a placeholder"]
    out = stream(streamer, chunks)
    assert "".join(out) == "Dear b@x.io, and <EMAIL_9> and <not a placeholder"
    assert out[0] == "Dear "  # only the partial placeholder waits


def test_stream_without_redaction_or_restoration_passes_through() -> None:
    streamer = StreamRedactor(Redactor(SCANNER), restore=False, redact=False)
    assert stream(streamer, ["b@x.io", " <EMAIL_1>"]) == ["b@x.io", " <EMAIL_1>", ""]


def test_stream_redacts_new_values_but_not_restored_ones() -> None:
    redactor = Redactor(SCANNER)
    redactor.redact("I am b@x.io")
    answer = (
        "Hello <EMAIL_1>! " + "Your ticket is open. " * 20 + "Write to support@x.io or call +44 20 7946 0958."
    )
    streamer = StreamRedactor(redactor, restore=True, redact=True)
    out = "".join(stream(streamer, [answer[i : i + 3] for i in range(0, len(answer), 3)]))
    assert out.startswith("Hello b@x.io! ")
    assert out.endswith("Write to <EMAIL_2> or call <PHONE_1>.")
    assert redactor.mapping["<EMAIL_2>"] == "support@x.io"


def test_stream_emits_early_and_holds_only_a_tail() -> None:
    streamer = StreamRedactor(Redactor(SCANNER), restore=False, redact=True)
    prose = "word " * 200
    emitted = "".join(streamer.feed(prose[i : i + 5]) for i in range(0, len(prose), 5))
    assert len(prose) - len(emitted) < 400  # the hold-back is bounded, not the whole answer
    assert emitted + streamer.flush() == prose


def test_stream_holds_a_pem_block_until_its_end_line() -> None:
    streamer = StreamRedactor(Redactor(SCANNER), restore=False, redact=True)
    text = "Here is the key:\n" + PEM + "\nthat is all. " + "filler text " * 40
    outputs = stream(streamer, [text[i : i + 7] for i in range(0, len(text), 7)])
    assert "".join(outputs) == "Here is the key:\n<PRIVATE_KEY_1>\nthat is all. " + "filler text " * 40
    assert not any("MIIE" in output for output in outputs)


LINE = "q8Zr2LmX9vT4kP1sW7nB3yH6q8Zr2LmX9vT4kP1s"


@pytest.mark.parametrize(
    "body",
    [
        "-----BEGIN PRIVATE KEY-----\n" + (LINE + "\n") * 400,  # a PEM block whose END never comes
        "token " + LINE * 400,  # one 16,000-character token
    ],
)
def test_stream_memory_is_bounded_by_the_cap(body: str) -> None:
    streamer = StreamRedactor(Redactor(SCANNER), restore=False, redact=True)
    outputs = [streamer.feed(body[i : i + 50]) for i in range(0, len(body), 50)]
    first = next(i for i, output in enumerate(outputs) if output)
    assert first * 50 <= HOLD_CAP + 1000  # emitting began once the cap was reached
    out = "".join(outputs) + streamer.flush()
    # Redacted piece by piece past the cap, but no sizeable piece of the secret gets out.
    assert not any(LINE[i : i + 12] in out for i in range(len(LINE) - 12))


def test_stream_equals_one_shot_on_a_mixed_answer() -> None:
    def history() -> Redactor:
        redactor = Redactor(SCANNER)
        redactor.redact(f"I am b@x.io, card {CARD}, call (415) 555-2671")
        return redactor

    answer = (
        "Thanks <EMAIL_1>, the card <CREDIT_CARD_1> is noted. " * 3
        + f"Also c@x.io, IBAN GB82 WEST 1234 5698 7654 32, key sk-proj-abcDEF1234567890ghijKLMNOP. {PEM} "
        + "Bye <EMAIL_1> and <PHONE_1>. " * 4
    )
    for restore in (False, True):
        for redact in (False, True):
            one = history()
            restored = one.restore(answer) if restore else answer
            keep = set(one.mapping.values()) if restore else set()
            expected = one.redact(restored, keep=keep)[0] if redact else restored
            for size in (1, 2, 3, 5, 8, 13, 64, 1000):
                two = history()
                streamer = StreamRedactor(two, restore=restore, redact=redact)
                got = "".join(stream(streamer, [answer[i : i + size] for i in range(0, len(answer), size)]))
                assert got == expected, (restore, redact, size)
                assert dict(two.mapping) == dict(one.mapping)
