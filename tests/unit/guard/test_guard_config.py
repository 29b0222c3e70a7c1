"""The guard section of ``pilothouse.yaml``: strict, with errors that name the key path."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse.core.config import parse_config
from pilothouse.core.errors import ConfigError

pytestmark = pytest.mark.unit


def config(guard: dict[str, Any]) -> dict[str, Any]:
    return {
        "providers": {"fake": {"type": "fake"}},
        "models": [{"name": "chat", "provider": "fake", "upstream": "m"}],
        "routes": [{"name": "support", "deployments": ["chat"]}],
        "guard": guard,
    }


@pytest.mark.parametrize(
    ("guard", "message"),
    [
        ({"routes": {"support": "missing"}}, "guard.routes.support: unknown policy 'missing'"),
        ({"teams": {"qa": "missing"}}, "guard.teams.qa: unknown policy 'missing'"),
        ({"policies": {"p": {}}, "routes": {"nowhere": "p"}}, "guard.routes.nowhere: unknown route"),
        ({"kill": {"routes": ["nowhere"]}}, "guard.kill.routes[0]: unknown route"),
        ({"policies": {"p": {"safe_route": "nowhere"}}}, "guard.policies.p.safe_route: unknown route"),
        (
            {"policies": {"p": {"input": [{"guard": "injection", "action": "redact"}]}}},
            "only pii and secrets guards can redact",
        ),
        (
            {"policies": {"p": {"input": [{"guard": "pii", "action": "escalate"}]}}},
            "escalate needs the policy's safe_route",
        ),
        (
            {"policies": {"p": {"input": [{"guard": "json_schema"}]}}},
            "the json_schema guard checks answers: put it under output",
        ),
        (
            {"policies": {"p": {"input": [{"guard": "telepathy"}]}}},
            "guard.policies.p.input[0]: Input tag 'telepathy'",
        ),
        ({"policies": {"p": {"input": [{"guard": "pii", "colour": "red"}]}}}, "colour"),
    ],
)
def test_bad_guard_config_names_the_key(guard: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config(guard))
    assert message in str(caught.value)


def test_a_full_policy_parses() -> None:
    parsed = parse_config(
        config(
            {
                "policies": {
                    "strict": {
                        "input": [{"guard": "pii", "action": "redact", "restore": True}],
                        "output": [{"guard": "json_schema", "schema": {"type": "object"}}],
                        "storage": "none",
                        "safe_route": "support",
                        "tools": {"allow": ["search"], "require_approval": ["refund"]},
                        "agent": {"max_steps": 3, "max_cost_usd": "0.5"},
                    }
                },
                "routes": {"support": "strict"},
                "default": "strict",
            }
        )
    )
    policy = parsed.guard.policies["strict"]
    assert policy.output[0].guard == "json_schema"
    assert policy.agent is not None and policy.agent.max_steps == 3
    assert parsed.storage.store_payloads == "redacted"  # the default keeps no raw PII
