"""The demo suite in examples/support stays loadable, large enough and sliced as its README says."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pilothouse.evals.suite import load_suite
from pilothouse.prompts.files import load_dir
from pilothouse.prompts.render import compile_prompt

pytestmark = pytest.mark.unit

SUPPORT = Path(__file__).parents[2] / "examples" / "support"


def test_suite_loads_with_at_least_50_sliced_cases() -> None:
    suite = load_suite(SUPPORT / "evals" / "support-reply.yaml")
    assert len(suite.cases) >= 50
    assert set(suite.scorers) == {"key-facts", "no-disallowed", "refusal", "no-placeholders", "concise"}
    topics = Counter(c.metadata["topic"] for c in suite.cases)
    assert set(topics) == {
        "billing", "shipping", "refunds", "account", "devices", "out-of-scope", "abusive", "handover"
    }  # fmt: skip
    assert min(topics.values()) >= 5  # every topic slice is large enough to be tested
    assert {c.metadata["difficulty"] for c in suite.cases} == {"easy", "medium", "hard"}
    assert len({c.metadata["language"] for c in suite.cases}) >= 3
    for case in suite.cases:
        refuse = case.metadata["refuse"]
        # A case either expects key facts or a refusal, never neither (it would test nothing).
        assert bool(case.expected) != refuse, case.id
        for fact in case.expected or []:
            # Key facts come from the case's own facts, except hand-overs (the facts lack the answer).
            facts = " ".join(case.variables["facts"]) if case.variables else ""
            if case.metadata["topic"] != "handover":
                assert fact.lower() in facts.lower(), (case.id, fact)


@pytest.mark.parametrize("folder", ["prompts-v1", "prompts"])
def test_both_prompt_versions_render_every_case(folder: str) -> None:
    [(_, spec)] = load_dir(SUPPORT / folder)
    assert spec.name == "support-reply" and spec.model == "smollm2"
    prompt = compile_prompt(spec, 1)
    suite = load_suite(SUPPORT / "evals" / "support-reply.yaml")
    for case in suite.cases:
        messages = prompt.render(case.variables)
        text = " ".join(m["content"] for m in messages)
        assert case.variables is not None and case.variables["question"] in text
        assert all(fact in text for fact in case.variables["facts"])


def test_the_two_versions_differ() -> None:
    [(_, v1)] = load_dir(SUPPORT / "prompts-v1")
    [(_, v2)] = load_dir(SUPPORT / "prompts")
    assert v1.content_hash() != v2.content_hash()
