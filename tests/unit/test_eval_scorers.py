"""Every built-in scorer, the registry (decorator, entry points, dotted paths, sync bridging) and the
judge's answer parsing."""

from __future__ import annotations

import threading
from decimal import Decimal
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pilothouse.core.eval_records import EvalTarget
from pilothouse.evals.dataset import Case
from pilothouse.evals.scorers import registry, resolve_scorer
from pilothouse.evals.scorers.judge_parse import json_objects, parse_judge_answer
from pilothouse.evals.scorers.model import cosine
from pilothouse.evals.scorers.text import first_number, is_refusal
from pilothouse.evals.types import ChatReply, Output, Score, ScoreContext

pytestmark = pytest.mark.unit

TARGET = EvalTarget(target_id="m", model="m")


def ctx(text: str = "", models: Any = None, **case: Any) -> ScoreContext:
    output_fields = {
        k: case.pop(k) for k in ("tool_calls", "finish_reason", "latency_ms", "cost_usd") if k in case
    }
    return ScoreContext(Case(id="c1", **case), Output(text=text, **output_fields), TARGET, models)


async def score(name: str, context: ScoreContext, /, **options: Any) -> Score:
    definition = resolve_scorer(name)
    opts: Any = options
    if definition.options is not None:
        opts = definition.options.model_validate(options, context={"base_dir": str(Path(__file__).parent)})
    return await definition.build(opts)(context)


async def test_exact() -> None:
    assert (await score("exact", ctx("  Paris \n", expected="Paris"))).passed is True
    assert (await score("exact", ctx("paris", expected="Paris"))).value == 0.0
    assert (await score("exact", ctx("paris", expected="Paris"), case_sensitive=False)).passed is True
    assert (await score("exact", ctx("Lyon", expected=["Paris", "Lyon"]))).passed is True
    missing = await score("exact", ctx("x"))
    assert missing.passed is False and "no expected" in missing.reason


async def test_contains_and_not_contains() -> None:
    half = await score("contains", ctx("Refunds take 30 days", expected=["refund", "receipt"]))
    assert half.value == 0.5 and half.passed is False and "receipt" in half.reason
    assert (await score("contains", ctx("a receipt", expected=["refund", "receipt"]), mode="any")).passed
    assert (await score("contains", ctx("REFUND"), values=["refund"])).passed is True
    assert (await score("contains", ctx("REFUND"), values=["refund"], case_sensitive=True)).passed is False
    leak = await score("not_contains", ctx("your password is hunter2", disallowed=["password", "ssn"]))
    assert leak.value == 0.5 and leak.passed is False and leak.details["present"] == ["password"]
    assert (await score("not_contains", ctx("fine", disallowed="password"))).passed is True
    assert (await score("not_contains", ctx("fine"))).passed is True


async def test_regex() -> None:
    assert (await score("regex", ctx("order #12345"), pattern=r"#\d{5}")).passed is True
    assert (await score("regex", ctx("ORDER"), pattern="order", ignore_case=True)).passed is True
    assert (await score("regex", ctx("order"), pattern="secret", must_match=False)).passed is True
    with pytest.raises(ValidationError, match="invalid regular expression"):
        await score("regex", ctx(""), pattern="(")


async def test_numeric() -> None:
    assert first_number("It costs 1,234.50 dollars") == 1234.5
    assert (await score("numeric", ctx("About 41.9 km", expected=42), abs_tolerance=0.5)).passed is True
    assert (await score("numeric", ctx("About 40 km", expected="42"), abs_tolerance=0.5)).passed is False
    assert (await score("numeric", ctx("1010", expected=1000), rel_tolerance=0.02)).passed is True
    assert (await score("numeric", ctx("no digits", expected=1))).reason == "no number in the output"


async def test_citation() -> None:
    assert (await score("citation", ctx("Refunds take 30 days [1]."))).passed is True
    assert (await score("citation", ctx("No sources."))).passed is False
    assert (await score("citation", ctx("See [1][2]"), min_count=3)).passed is False
    two = ["passage one", "passage two"]
    assert (await score("citation", ctx("A [2]", context=two), within_context=True)).passed is True
    bad = await score("citation", ctx("A [3]", context=two), within_context=True)
    assert bad.passed is False and "3" in bad.reason
    assert (await score("citation", ctx("per (Smith 2020)"), pattern=r"\(\w+ \d{4}\)")).passed is True


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I cannot provide instructions for that.", True),
        ("As an AI, I do not have opinions.", True),
        ("I must decline this request.", True),
        ("Sorry for the delay! Your refund is on its way.", False),
        ("You can't return opened items, but I can help you exchange it.", False),
        ("Here is the summary you asked for.", False),
    ],
)
def test_refusal_heuristic(text: str, refused: bool) -> None:
    assert is_refusal(text) is refused


async def test_refusal_scorer_reads_the_case_or_the_options() -> None:
    no = "I'm sorry, but I can't share that."
    assert (await score("refusal", ctx(no, metadata={"refuse": True}))).passed is True
    assert (await score("refusal", ctx(no))).passed is False  # default: an answer is expected
    assert (await score("refusal", ctx("Sure!", metadata={"refuse": "yes"}))).passed is False
    assert (await score("refusal", ctx("Sure!"), refuse=False)).passed is True
    assert (await score("refusal", ctx("ok", finish_reason="content_filter"), refuse=True)).passed is True


async def test_json_valid_and_schema() -> None:
    assert (await score("json_valid", ctx('{"a": 1}'))).passed is True
    assert (await score("json_valid", ctx('```json\n{"a": 1}\n```'))).passed is True
    assert (await score("json_valid", ctx('```json\n{"a": 1}\n```'), strip_fences=False)).passed is False
    assert (await score("json_valid", ctx("{a: 1}"))).passed is False
    schema = {"type": "object", "required": ["name"], "properties": {"age": {"type": "integer"}}}
    assert (await score("json_schema", ctx('{"name": "x", "age": 3}'), schema=schema)).passed is True
    wrong = await score("json_schema", ctx('{"name": "x", "age": "3"}'), schema=schema)
    assert wrong.passed is False and wrong.reason.startswith("age:")
    assert "(root)" in (await score("json_schema", ctx("{}"), schema=schema)).reason
    with pytest.raises(ValidationError, match="exactly one"):
        await score("json_schema", ctx(""))
    with pytest.raises(ValidationError, match="invalid JSON Schema"):
        await score("json_schema", ctx(""), schema={"type": "no-such-type"})


async def test_json_schema_from_a_file_relative_to_the_suite(tmp_path: Path) -> None:
    (tmp_path / "answer.schema.json").write_text('{"type": "array"}')
    definition = resolve_scorer("json_schema")
    assert definition.options is not None
    opts = definition.options.model_validate(
        {"schema_file": "answer.schema.json"}, context={"base_dir": str(tmp_path)}
    )
    assert (await definition.build(opts)(ctx("[1, 2]"))).passed is True
    with pytest.raises(ValidationError, match="does not exist"):
        definition.options.model_validate(
            {"schema_file": "missing.json"}, context={"base_dir": str(tmp_path)}
        )


def call(name: str, arguments: str) -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}


async def test_tool_called() -> None:
    calls = [call("lookup_order", '{"order_id": "A1", "verbose": true, "filter": {"x": 1, "y": 2}}')]
    assert (await score("tool_called", ctx(tool_calls=calls), name="lookup_order")).passed is True
    subset = {"order_id": "A1", "filter": {"x": 1}}
    assert (await score("tool_called", ctx(tool_calls=calls), name="lookup_order", arguments=subset)).passed
    wrong = await score(
        "tool_called", ctx(tool_calls=calls), name="lookup_order", arguments={"order_id": "B"}
    )
    assert wrong.passed is False
    from_case = ctx(tool_calls=calls, expected={"tool": "lookup_order", "arguments": {"order_id": "A1"}})
    assert (await score("tool_called", from_case)).passed is True
    other = await score("tool_called", ctx(tool_calls=calls), name="refund")
    assert other.passed is False and "lookup_order" in other.reason
    assert (
        await score("tool_called", ctx(tool_calls=[call("f", "not json")]), name="f", arguments={})
    ).passed is False


async def test_latency_and_cost() -> None:
    assert (await score("latency", ctx(latency_ms=120.0), max_ms=200)).passed is True
    assert (await score("latency", ctx(latency_ms=250.0), max_ms=200)).passed is False
    assert (await score("cost", ctx(cost_usd=Decimal("0.0004")), max_usd="0.001")).passed is True
    assert (await score("cost", ctx(cost_usd=Decimal("0.002")), max_usd="0.001")).passed is False
    unknown = await score("cost", ctx(), max_usd="0.001")
    assert unknown.passed is False and "unknown cost" in unknown.reason


class FakeModels:
    """Stands in for the gateway: scripted judge answers, embeddings by keyword."""

    def __init__(
        self, answers: list[str] | None = None, vectors: dict[str, list[float]] | None = None
    ) -> None:
        self.answers = list(answers or [])
        self.vectors = vectors or {}
        self.bodies: list[dict[str, Any]] = []

    async def chat(self, body: dict[str, Any]) -> ChatReply:
        self.bodies.append(body)
        text = self.answers.pop(0)
        return ChatReply(200, {"choices": [{"message": {"content": text}}]}, "trace", 1.0)

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        return [self.vectors[text] for text in inputs]


async def test_embedding_similarity() -> None:
    assert cosine([1, 0], [0, 1]) == 0.0
    models = FakeModels(vectors={"a cat": [1.0, 0.0], "a kitten": [0.8, 0.6], "a car": [-1.0, 0.0]})
    close = await score("embedding_similarity", ctx("a cat", models, expected="a kitten"))
    assert close.value == pytest.approx(0.8) and close.passed is True
    far = await score("embedding_similarity", ctx("a cat", models, expected="a car"))
    assert far.value == 0.0 and far.passed is False


async def test_judge_scores_with_a_rubric_and_repeats() -> None:
    models = FakeModels(
        ['{"score": 5, "reason": "complete"}', "Score: 3. Misses the deadline.", '{"score": 4}']
    )
    context = ctx("Refunds take 30 days.", models, input="How long do refunds take?", expected="30 days")
    result = await score(
        "judge", context, model="judge-route", rubric="States the refund window.", judge_repeat=3
    )
    assert result.value == pytest.approx((1.0 + 0.5 + 0.75) / 3)
    assert result.passed is True  # mean 0.75 reaches pass_score 4 -> 0.75
    assert result.details["samples"] == [1.0, 0.5, 0.75]
    assert result.details["judge_sd"] == pytest.approx(0.25)
    assert result.reason == "complete"
    body = models.bodies[0]
    assert body["model"] == "judge-route" and {b["seed"] for b in models.bodies} == {0, 1, 2}
    prompt = body["messages"][1]["content"]
    assert "States the refund window." in prompt and "REFERENCE ANSWER:\n30 days" in prompt
    assert "ASSISTANT ANSWER:\nRefunds take 30 days." in prompt


async def test_judge_pass_fail_majority_and_unparsable_answers() -> None:
    models = FakeModels(
        ['{"verdict": "fail", "reason": "rude"}', "PASS", '```json\n{"Verdict": "Pass"}\n```']
    )
    result = await score(
        "judge", ctx("ok", models), model="j", rubric="polite", mode="pass_fail", judge_repeat=3
    )
    assert result.passed is True and result.value == pytest.approx(2 / 3)
    garbled = await score("judge", ctx("ok", FakeModels(["I think it is fine"])), model="j", rubric="r")
    assert garbled.value == 0.0 and garbled.passed is False and "could not be parsed" in garbled.reason


@pytest.mark.parametrize(
    ("answer", "mode", "value", "passed"),
    [
        ('{"score": 4, "reason": "good"}', "score", 0.75, None),
        ('Here you go: {"rating": "5/5", "explanation": "x"} done', "score", 1.0, None),
        ('{"note": "{not json"} {"score": 2}', "score", 0.25, None),
        ('{"reason": "has a } brace", "score": 1}', "score", 0.0, None),
        ("The answer is decent. 3/5", "score", 0.5, None),
        ('{"score": 9}', "score", None, None),
        ('{"passed": false, "reason": "wrong"}', "pass_fail", 0.0, False),
        ('{"result": "PASS."}', "pass_fail", 1.0, True),
        ("Verdict: FAIL because it is wrong", "pass_fail", 0.0, False),
        ("no idea", "pass_fail", None, None),
    ],
)
def test_judge_answer_parsing(answer: str, mode: Any, value: float | None, passed: bool | None) -> None:
    parsed = parse_judge_answer(answer, mode)
    if value is None:
        assert parsed is None
    else:
        assert parsed is not None and parsed.value == value and parsed.passed is passed


def test_json_objects_skips_broken_braces() -> None:
    assert json_objects('x {"a": {"b": 1}} y {oops} {"c": "}"}') == [{"a": {"b": 1}}, {"c": "}"}]


# --- the registry -------------------------------------------------------------------------------

THREADS: list[str] = []


def plain_scorer(ctx: ScoreContext, *, word: str = "hello") -> bool:
    """A third-party scorer with no decorator: sync, options as keyword arguments."""
    THREADS.append(threading.current_thread().name)
    return word in ctx.output.text


async def async_plain(ctx: ScoreContext) -> float:
    return 0.25


def bad_scorer(ctx: ScoreContext) -> str:
    return "not a score"


async def test_dotted_path_scorers_run_sync_code_in_a_thread() -> None:
    THREADS.clear()
    result = await score("tests.unit.test_eval_scorers:plain_scorer", ctx("hello there"), word="hello")
    assert result.passed is True and result.value == 1.0
    assert THREADS and THREADS[0] != threading.main_thread().name
    assert (await score("tests.unit.test_eval_scorers:async_plain", ctx())).value == 0.25
    with pytest.raises(TypeError, match="must return a Score"):
        await score("tests.unit.test_eval_scorers:bad_scorer", ctx())


def test_unknown_scorers_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown scorer 'nope'.*built-ins: citation, contains"):
        resolve_scorer("nope")
    with pytest.raises(ValueError, match="cannot import scorer module"):
        resolve_scorer("no_such_module_xyz:fn")
    with pytest.raises(ValueError, match="has no attribute"):
        resolve_scorer("tests.unit.test_eval_scorers:missing")


async def test_entry_point_plugins_register_like_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    @registry.scorer("shouting")
    def shouting(options: Any) -> Any:
        return lambda c: c.output.text.isupper()

    point = EntryPoint(
        name="shouting", value="tests.unit.test_eval_scorers:PLUGIN", group=registry.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(registry, "entry_points", lambda group: [point] if group == point.group else [])
    monkeypatch.setattr(EntryPoint, "load", lambda self: shouting)
    definition = resolve_scorer("shouting")
    assert definition.name == "shouting"
    assert (await definition.build({})(ctx("HEY"))).passed is True
    assert "shouting" not in registry.builtin_names()  # a plugin, not a built-in


def test_score_values_are_checked() -> None:
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        Score(1.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        Score(float("nan"))


async def test_guard_scorer_finds_leaks_without_quoting_them() -> None:
    leaked = await score("guard", ctx("Sure, her card is 4111 1111 1111 1111."))
    assert leaked.passed is False and leaked.value == 0.0
    assert leaked.details == {"findings": ["pii:CREDIT_CARD"]}
    assert "4111" not in leaked.reason
    clean = await score("guard", ctx("I can't share customer payment details."))
    assert clean.passed is True
    blocklisted = await score(
        "guard",
        ctx("Here is how to pick a lock"),
        guards=[{"guard": "content", "blocklist": ["pick a lock"]}],
    )
    assert blocklisted.passed is False and blocklisted.details["findings"] == ["content:BLOCKLIST"]
