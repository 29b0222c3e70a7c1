"""Suites and datasets: what parses, and errors that name the file and the key path or line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pilothouse.core.errors import ConfigError
from pilothouse.evals.dataset import load_dataset
from pilothouse.evals.suite import load_suite

pytestmark = pytest.mark.unit

CASES = '{"id": "c1", "input": "hi", "expected": "hello", "metadata": {"topic": "greeting"}}\n'


def write_suite(tmp_path: Path, suite: dict[str, Any], cases: str = CASES, name: str = "cases.jsonl") -> Path:
    (tmp_path / name).write_text(cases)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"dataset": name, **suite}))
    return path


def test_a_full_suite_parses(tmp_path: Path) -> None:
    path = write_suite(
        tmp_path,
        {
            "prompts": ["support-reply@production", "support-reply@3"],
            "models": ["fast", "smart"],
            "params": {"temperature": 0},
            "repeat": 2,
            "scorers": [
                {"scorer": "contains", "threshold": 0.9},
                {"scorer": "judge", "name": "tone", "options": {"model": "judge", "rubric": "polite"}},
            ],
            "gate": {"tolerance": 0.05, "slices": ["topic"]},
        },
        cases='{"id": "c1", "variables": {"question": "hi"}}\n',
    )
    suite = load_suite(path)
    assert suite.name == "suite"
    assert suite.prompt_refs() == [("support-reply", "production"), ("support-reply", "3")]
    assert list(suite.scorers) == ["contains", "tone"]
    assert suite.scorer_config("tone").options["rubric"] == "polite"
    assert suite.cases[0].variables == {"question": "hi"}
    before = suite.hash
    (tmp_path / "cases.jsonl").write_text('{"id": "c1", "variables": {"question": "hey"}}\n')
    assert load_suite(path).hash != before  # the dataset's content is part of the suite's identity


@pytest.mark.parametrize(
    ("suite", "where", "message"),
    [
        ({"models": ["m"], "scorers": [{"scorer": "exact"}], "colour": 1}, "at colour", "Extra inputs"),
        ({"models": ["m"], "scorers": []}, "at scorers", "at least 1"),
        ({"models": ["m"], "scorers": [{"scorer": "nope"}]}, "at scorers[0].scorer", "unknown scorer 'nope'"),
        (
            {"models": ["m"], "scorers": [{"scorer": "exact"}, {"scorer": "regex", "options": {}}]},
            "at scorers[1].options.pattern",
            "Field required",
        ),
        (
            {"models": ["m"], "scorers": [{"scorer": "regex", "options": {"pattern": "("}}]},
            "at scorers[0].options.pattern",
            "invalid regular expression",
        ),
        (
            {"models": ["m"], "scorers": [{"scorer": "exact"}, {"scorer": "exact"}]},
            "at scorers[1].name",
            "duplicate scorer name",
        ),
        ({"scorers": [{"scorer": "exact"}]}, "at models", "at least one model"),
        (
            {"models": ["m"], "prompts": ["bad ref"], "scorers": [{"scorer": "exact"}]},
            "at prompts[0]",
            "name@",
        ),
        (
            {"models": ["m"], "params": {"model": "x"}, "scorers": [{"scorer": "exact"}]},
            "at params",
            "cannot be params",
        ),
        ({"models": ["m"], "repeat": 0, "scorers": [{"scorer": "exact"}]}, "at repeat", "greater than"),
    ],
)
def test_suite_errors_name_the_file_and_key(
    tmp_path: Path, suite: dict[str, Any], where: str, message: str
) -> None:
    path = write_suite(tmp_path, suite)
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    text = str(info.value)
    assert text.startswith(f"{path}, {where}:"), text
    assert message in text


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("dataset: x.jsonl\nmodels: [m\n")
    with pytest.raises(ConfigError, match=r"suite.yaml: line \d+, column \d+: invalid YAML"):
        load_suite(path)


def test_missing_dataset_is_named(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(
        yaml.safe_dump({"dataset": "nowhere.jsonl", "models": ["m"], "scorers": [{"scorer": "exact"}]})
    )
    with pytest.raises(ConfigError, match=r"nowhere.jsonl: cannot read dataset"):
        load_suite(path)


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ('{"id": "a", "input": "x"}\n\n{"id": "b", "input": \n', 3, "invalid JSON"),
        ('{"id": "a", "input": "x"}\n["not", "an", "object"]\n', 2, "must be a JSON object"),
        (
            '{"id": "a", "input": "x"}\n{"id": "a", "input": "y"}\n',
            2,
            "duplicate case id 'a' (first on line 1)",
        ),
        ('{"input": "x"}\n', 1, "at id: Field required"),
        ('{"id": "a", "input": "x", "colour": "red"}\n', 1, "at colour: Extra inputs"),
        ('{"id": "a", "input": "x", "messages": []}\n', 1, "either input or messages"),
        ('{"id": "a", "variables": {"q": 1}}\n', 1, "needs messages"),
        ('{"id": "a", "input": "x", "metadata": "billing"}\n', 1, "at metadata"),
    ],
)
def test_jsonl_errors_name_the_file_and_line(tmp_path: Path, content: str, line: int, message: str) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_dataset(path, need_messages=True)
    assert str(info.value).startswith(f"{path}:{line}"), str(info.value)
    assert message in str(info.value)


def test_csv_columns_map_to_case_fields(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(
        "\ufeffid,question,expected,disallowed,metadata.topic,context\n"
        'c1,"Where is my\norder?",tracking,password|ssn,shipping,\n'
        'c2,Refund?,30 days,"[""refund policy""]",billing,Refunds take 30 days.\n'
    )
    cases, digest = load_dataset(path)
    assert [c.id for c in cases] == ["c1", "c2"]
    assert cases[0].variables == {"question": "Where is my\norder?"}
    assert cases[0].disallowed == ["password", "ssn"] and cases[0].metadata == {"topic": "shipping"}
    assert cases[0].context is None and cases[1].context == "Refunds take 30 days."
    assert cases[1].disallowed == ["refund policy"]
    assert len(digest) == 64


def test_csv_errors_name_the_line_even_after_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text('id,input,messages\nc1,"two\nlines",\nc2,,not json\n')
    with pytest.raises(ConfigError, match=r"cases.csv:4: column 'messages' must hold JSON"):
        load_dataset(path)
    path.write_text("input\nhello\n")
    with pytest.raises(ConfigError, match=r"cases.csv:1: the header row must have an 'id' column"):
        load_dataset(path)


def test_other_dataset_formats_and_empty_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "cases.txt").write_text("hi")
    with pytest.raises(ConfigError, match=r"\.jsonl or \.csv"):
        load_dataset(tmp_path / "cases.txt")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(ConfigError, match="no cases"):
        load_dataset(tmp_path / "empty.jsonl")
