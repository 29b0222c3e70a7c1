"""Report formats: Markdown, JSON, JUnit XML and HTML from one comparison."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import orjson
import pytest

from pilothouse.evals.report import (
    CaseView,
    Report,
    render_html,
    render_json,
    render_junit,
    render_markdown,
    threshold_checks,
    write_report,
)
from pilothouse.evals.report_html import word_diff
from pilothouse.evals.stats import RunScores, compare
from tests.eval_runs import SPECS, demo_report, synthetic_run

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def regression() -> Report:
    base = synthetic_run("v2", 0.8, seed=2)
    cand = synthetic_run("v1", 0.6, seed=1)
    checks = threshold_checks(cand, {"passed": 0.7, "latency_ms": 1500.0}, SPECS)
    case = CaseView("case-000", "Where is <b>my</b> order?", "It shipped.", "It shipped <script>x</script>")
    return Report("v2 -> v1", compare(base, cand, SPECS), [case], checks, {"suite": "s.yaml"})


def test_markdown_leads_with_the_verdict_and_folds_slices(regression: Report) -> None:
    md = render_markdown(regression)
    assert md.startswith("## ❌ v2 -> v1")
    assert "| `passed` | 100 |" in md and "▼ regression" in md
    assert "<details><summary>Per slice</summary>" in md and "topic=billing" in md
    assert "❌ `passed` on `v1`" in md and "✅ `latency_ms` on `v1`" in md
    assert "holm correction" in md


def test_json_round_trips_with_nan_as_null(regression: Report) -> None:
    data = orjson.loads(render_json(regression))
    assert data["regressions"] == len(regression.comparison.regressions) >= 2
    rows = data["comparison"]["rows"]
    assert {r["verdict"] for r in rows} >= {"regression"}
    assert data["checks"][1]["passed"] is False
    # An estimate without an interval (one case) serialises as null, not NaN (invalid JSON).
    one = compare(RunScores("a", {"s": {"x": [0.5]}}), RunScores("b", {"s": {"x": [0.7]}}))
    row = orjson.loads(render_json(Report("one", one)))["comparison"]["rows"][0]
    assert row["diff"]["low"] is None and row["p_value"] is None


def test_junit_has_a_testcase_per_threshold_and_regression_check(regression: Report) -> None:
    root = ET.fromstring(render_junit(regression))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["thresholds"].get("tests") == "2" and suites["thresholds"].get("failures") == "1"
    tested = [r for r in regression.comparison.rows if r.p_value is not None]
    assert suites["regressions"].get("tests") == str(len(tested))
    assert suites["regressions"].get("failures") == str(len(regression.comparison.regressions))
    failure = next(
        c for c in root.iter("testcase") if c.get("name") == "passed" and c.find("failure") is not None
    )
    message = failure.find("failure")
    assert message is not None and "p adj." in (message.get("message") or "")


def test_html_is_self_contained_and_escapes_case_text(regression: Report) -> None:
    html = render_html(regression)
    assert '<table id="comparison">' in html and '<table id="slices">' in html
    assert 'data-verdict="regression"' in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "&lt;b&gt;my&lt;/b&gt;" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from the network


def test_word_diff_marks_removed_and_added_words() -> None:
    left, right = word_diff("Your order shipped on Monday.", "Your order shipped on Tuesday!")
    assert [s.text for s in left if s.kind == "del"] == ["Monday."]
    assert [s.text for s in right if s.kind == "ins"] == ["Tuesday!"]
    assert "".join(s.text for s in left) == "Your order shipped on Monday."
    assert "".join(s.text for s in right) == "Your order shipped on Tuesday!"


def test_write_report_picks_the_format_from_the_suffix(tmp_path: Path) -> None:
    report = demo_report()
    for suffix, probe in (
        (".md", "## "),
        (".html", "<!doctype html>"),
        (".json", '"title"'),
        (".xml", "<testsuites"),
    ):
        path = write_report(report, tmp_path / "out" / f"report{suffix}")
        assert probe in path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="unknown report format"):
        write_report(report, tmp_path / "report.pdf")


def test_threshold_checks_average_repeats_and_respect_direction() -> None:
    run = RunScores("t", {"ok": {"a": [1.0, 0.0], "b": [1.0]}, "ms": {"a": [900.0], "b": [1100.0]}})
    checks = threshold_checks(
        run, {"ok": 0.75, "ms": 1000.0, "missing": 0.5}, SPECS | {"ms": SPECS["latency_ms"]}
    )
    by = {c.scorer: c for c in checks}
    assert by["ok"].value == 0.75 and by["ok"].passed
    assert by["ms"].value == 1000.0 and by["ms"].passed and not by["ms"].higher_is_better
    assert not by["missing"].passed
