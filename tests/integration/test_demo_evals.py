"""The eval part of ``pilothouse demo`` end to end on an echo provider: both prompt versions pushed,
v1 labelled production, the gated suite run through a real gateway, the comparison printed and
written. Echo answers with the last user message, so v2 (facts in the user turn) carries the key
facts and v1 (the bare question) does not: a known, large difference the comparison must flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilothouse.cli.demo_evals import run_demo_evals
from pilothouse.cli.eval_gateway import local_gateway
from pilothouse.core.config import Config
from pilothouse.evals.stats import Verdict
from tests.gateway_harness import base_config

pytestmark = pytest.mark.integration


def _config(tmp_path: Path) -> Config:
    raw = base_config(tmp_path)
    raw["providers"] = {"fake": {"type": "fake", "echo": True}}
    raw["models"] = [{"name": "smollm2", "provider": "fake", "upstream": "m"}]  # the prompts' model
    return Config.model_validate(raw)


async def test_demo_compares_the_two_versions_and_caches_the_rerun(tmp_path: Path) -> None:
    config = _config(tmp_path)
    reports = tmp_path / "reports"
    async with local_gateway(config) as gw:
        first = await run_demo_evals(gw.runtime, gw.base_url, gw.key, reports)
        assert first is not None and first.gate is not None
        [target] = first.gate.targets
        comparison = target.comparison
        assert comparison is not None
        facts = comparison.overall("key-facts")
        assert facts is not None and facts.n == 61
        assert facts.verdict is Verdict.IMPROVEMENT and facts.diff.low > 0.3
        assert first.counts.sent == 2 * 61
        labels = await gw.runtime.store.prompt_labels("support-reply")
        assert {(lbl.label, lbl.version) for lbl in labels} == {("production", 1)}

        again = await run_demo_evals(gw.runtime, gw.base_url, gw.key, reports)
        assert again is not None and again.counts.sent == 0  # every case from cache
        versions = await gw.runtime.store.list_prompt_versions("support-reply")
        assert len(versions) == 2  # the demo does not push a version per run
    html = (reports / "support-reply.html").read_text()
    assert '<table id="comparison">' in html and "key-facts" in html
    assert (reports / "support-reply.md").read_text().startswith("## ")
