"""Properties of redaction over generated text: no detected value survives, clean text is untouched,
streaming equals one-shot for any chunking, and restore undoes redact."""

from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilothouse.guard.pii import PIIScanner
from pilothouse.guard.pii.scanner import BUILTIN_DETECTORS
from pilothouse.guard.pii.validators import IBAN_LENGTHS, luhn_valid
from pilothouse.guard.redact import Redactor
from pilothouse.guard.stream_redact import StreamRedactor

pytestmark = pytest.mark.unit

SCANNER = PIIScanner()
PROPERTIES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
B62 = string.ascii_letters + string.digits


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(string.digits, min_size=n, max_size=n)


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix, length = draw(st.sampled_from([("4", 16), ("51", 16), ("2221", 16), ("37", 15), ("6011", 16)]))
    body = prefix + draw(digits(length - len(prefix) - 1))
    number = next(body + d for d in string.digits if luhn_valid(body + d))
    if length == 15:
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    sep = draw(st.sampled_from([" ", "-"]))
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(["DE", "FR", "ES", "NL", "IT", "CH", "GB"]))
    bban = draw(digits(IBAN_LENGTHS[country] - 4))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    value = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if draw(st.booleans()) else value


@st.composite
def ssns(draw: st.DrawFn) -> str:
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    return f"{area:03d}-{draw(st.integers(1, 99)):02d}-{draw(st.integers(1, 9999)):04d}"


@st.composite
def phones(draw: st.DrawFn) -> str:
    area, exchange, line = draw(st.integers(200, 999)), draw(st.integers(200, 999)), draw(digits(4))
    area = area + 1 if area % 100 == 11 else area
    shape = draw(st.sampled_from(["({a}) {e}-{l}", "{a}-{e}-{l}", "+1 {a} {e} {l}", "+44 20 7{e} {l}"]))
    return shape.format(a=area, e=exchange, l=line)


@st.composite
def ninos(draw: st.DrawFn) -> str:
    first, second = draw(st.sampled_from("ABCEGHJKLMPRSWXY")), draw(st.sampled_from("ACEHJLMPRSWXY"))
    return f"{first}{second}{draw(digits(6))}{draw(st.sampled_from('ABCD'))}"


LOWER = st.text(string.ascii_lowercase, min_size=1, max_size=8)
VALUES = st.one_of(
    st.builds(lambda a, b: f"{a}.{b}@example.com", LOWER, LOWER),
    phones(),
    cards(),
    ibans(),
    ssns(),
    ninos(),
    st.builds(lambda o: ".".join(map(str, o)), st.lists(st.integers(1, 254), min_size=4, max_size=4)),
    st.builds(
        lambda n, w: f"{n} {w.title()} Street", st.integers(1, 9999), LOWER.filter(lambda w: len(w) > 1)
    ),
    st.builds(lambda body: "sk-proj-" + body, st.text(B62, min_size=24, max_size=48)),
    st.builds(lambda body: "ghp_" + body, st.text(B62, min_size=36, max_size=36)),
    st.builds(
        lambda body: "AKIA" + body, st.text(string.ascii_uppercase + string.digits, min_size=16, max_size=16)
    ),
)
# Surrounding text: letters, punctuation, whitespace, digits (no "<", so nothing reads as a placeholder).
FILLER = st.text(string.ascii_letters + string.digits + " \n\t.,;:!?()'\"-/", max_size=80)
NEUTRAL = "\nand the thing we talked about earlier today is "  # longer than any context window


@PROPERTIES
@given(prefix=FILLER, value=VALUES, middle=FILLER, suffix=FILLER)
def test_no_detected_value_survives(prefix: str, value: str, middle: str, suffix: str) -> None:
    # One copy glued into random text (found or not by the scanner there) and one it must find.
    text = f"{prefix}{value}{middle}{NEUTRAL}{value} and then {suffix}"
    redactor = Redactor(SCANNER)
    redacted, findings = redactor.redact(text)
    assert findings
    assert value not in redacted
    assert redactor.restore(redacted) == text


@PROPERTIES
@given(text=FILLER)
def test_text_without_findings_is_returned_unchanged(text: str) -> None:
    redacted, findings = Redactor(SCANNER).redact(text)
    assert (redacted is text) == (not findings)


@PROPERTIES
@given(parts=st.lists(st.one_of(FILLER, VALUES), max_size=12))
def test_restore_undoes_redact(parts: list[str]) -> None:
    text = " ".join(parts)
    redactor = Redactor(SCANNER)
    redacted, _ = redactor.redact(text)
    assert redactor.restore(redacted) == text


HISTORY = "I am jane.doe@example.com, card 4111 1111 1111 1111, call (415) 555-2671, key AKIAIOSFODNN7EXAMPLE"
PLACEHOLDERS = st.sampled_from(
    ["<EMAIL_1>", "<CREDIT_CARD_1>", "<PHONE_1>", "<API_KEY_1>", "<EMAIL_7>", "<EMAI"]
)
SEGMENTS = st.one_of(FILLER, VALUES, PLACEHOLDERS)


def with_history() -> Redactor:
    redactor = Redactor(SCANNER)
    redactor.redact(HISTORY)
    return redactor


@PROPERTIES
@given(
    parts=st.lists(SEGMENTS, min_size=1, max_size=14),
    cuts=st.lists(st.integers(0, 2000), max_size=40),
    restore=st.booleans(),
    redact=st.booleans(),
)
def test_streaming_equals_one_shot(parts: list[str], cuts: list[int], restore: bool, redact: bool) -> None:
    answer = " . ".join(parts)
    one = with_history()
    restored = one.restore(answer) if restore else answer
    keep = set(one.mapping.values()) if restore else set()
    expected = one.redact(restored, keep=keep)[0] if redact else restored

    # Chunk boundaries anywhere: inside values, placeholders and separators alike.
    bounds = sorted({0, len(answer), *(c % (len(answer) + 1) for c in cuts)})
    two = with_history()
    streamer = StreamRedactor(two, restore=restore, redact=redact)
    out = [streamer.feed(answer[a:b]) for a, b in itertools.pairwise(bounds)]
    assert "".join(out) + streamer.flush() == expected
    assert dict(two.mapping) == dict(one.mapping)


# Number-shaped text, where the scanner's digit-cluster windows do the most work.
DIGITISH = st.text(string.digits * 4 + " -.()+:/#@\nABCDEFGHJKLMNPRSTWXYZabcdef", max_size=300)


@PROPERTIES
@given(parts=st.lists(st.one_of(DIGITISH, VALUES), max_size=6))
def test_digit_windows_lose_nothing(parts: list[str]) -> None:
    text = "".join(parts)
    everywhere = [f for d in BUILTIN_DETECTORS for f in d.find(text, 0, len(text))]
    key = lambda f: (f.start, f.end, f.entity, f.detector)  # noqa: E731
    assert sorted(SCANNER.candidates(text), key=key) == sorted(everywhere, key=key)


@PROPERTIES
@given(parts=st.lists(st.one_of(DIGITISH, VALUES), min_size=1, max_size=8), size=st.integers(1, 9))
def test_streaming_equals_one_shot_on_number_shaped_text(parts: list[str], size: int) -> None:
    text = "".join(parts)
    expected = Redactor(SCANNER).redact(text)[0]
    streamer = StreamRedactor(Redactor(SCANNER), restore=False, redact=True)
    out = [streamer.feed(text[i : i + size]) for i in range(0, len(text), size)]
    assert "".join(out) + streamer.flush() == expected
