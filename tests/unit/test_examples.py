from __future__ import annotations

from pathlib import Path

import pytest

from pilothouse.core.config import load_config
from pilothouse.guard.policy import GuardBook

pytestmark = pytest.mark.unit


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PILOTHOUSE_ADMIN_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(name, "x")
    config = load_config(Path(__file__).parents[2] / "examples" / "pilothouse.yaml")
    route = config.route("support-chat")
    assert route is not None
    assert route.fallbacks == ["claude-sonnet"]
    assert config.redis is not None

    # The example's guard policies compile (regexes, entities, schemas) and attach as documented.
    book = GuardBook(config.guard)
    support = book.policy_for("support-chat", "support")
    assert support is not None and support.name == "customer-facing+agents"
    assert [g.name for g in support.input] == ["pii", "secrets", "injection", "content"]
    assert support.storage == "redacted" and support.agent is not None
    assert book.kill.tools == {"delete_customer"}
