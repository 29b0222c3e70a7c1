from __future__ import annotations

from pathlib import Path

import pytest

from pilothouse.core.config import load_config

pytestmark = pytest.mark.unit


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PILOTHOUSE_ADMIN_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(name, "x")
    config = load_config(Path(__file__).parents[2] / "examples" / "pilothouse.yaml")
    route = config.route("support-chat")
    assert route is not None
    assert route.fallbacks == ["claude-sonnet"]
    assert config.redis is not None
