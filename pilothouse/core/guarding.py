"""Config schema for guardrails: named policies of guards, attached to routes and teams.

A policy is a list of guards per direction (``input`` messages, ``context`` = retrieved and tool
content, ``output``), plus what traces may store, tool governance and agent-session limits::

    guard:
      policies:
        customer-facing:
          input:
            - {guard: pii, action: redact, restore: true}
            - {guard: secrets, action: block}
            - {guard: injection, action: block, threshold: 0.8}
          context:
            - {guard: injection, action: flag}
          output:
            - {guard: pii, action: redact}
            - {guard: json_schema, action: block}
          storage: redacted
          tools: {allow: [search], require_approval: [refund]}
          agent: {max_steps: 20}
      routes: {support: customer-facing}
      teams: {growth: customer-facing}
      kill: {routes: [], tools: [delete_account]}
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pilothouse.core.json_schema import JSONSchema

Action = Literal["block", "redact", "flag", "escalate"]
PayloadPolicy = Literal["full", "redacted", "none"]

# Entity names the built-in PII and secret detectors report.
PII_ENTITIES = (
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "UK_NINO",
    "IP_ADDRESS",
    "POSTAL_ADDRESS",
    "PERSON",
)
SECRET_ENTITIES = ("API_KEY", "PRIVATE_KEY", "SECRET_TOKEN")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GuardBase(Strict):
    action: Action = "block"
    enabled: bool = True


class PIIGuardConfig(GuardBase):
    guard: Literal["pii"]
    entities: list[str] | None = Field(None, description="entity names; default: every PII entity")
    min_score: float = Field(0.5, ge=0, le=1, description="findings below this confidence are ignored")
    restore: bool = Field(
        False, description="redact: put the original values back where the answer uses the placeholders"
    )
    backend: Literal["builtin", "presidio"] = "builtin"


class SecretsGuardConfig(GuardBase):
    guard: Literal["secrets"]
    entities: list[str] | None = Field(None, description="default: API keys, private keys, tokens")
    min_score: float = Field(0.5, ge=0, le=1)


class InjectionGuardConfig(GuardBase):
    guard: Literal["injection"]
    threshold: float = Field(0.5, ge=0, le=1, description="score at or above which the guard acts")
    classifier: bool = Field(True, description="use the embedding classifier besides the heuristics")


class ContentGuardConfig(GuardBase):
    guard: Literal["content"]
    blocklist: list[str] = Field(default_factory=list, description="phrases, matched case-insensitively")
    regexes: list[str] = Field(default_factory=list)
    denied_topics: dict[str, list[str]] = Field(
        default_factory=dict, description="topic name -> phrases that signal it"
    )
    max_chars: int | None = Field(None, ge=1)
    languages: list[str] | None = Field(None, description="ISO 639-1 codes allowed, e.g. [en, de]")


class JSONSchemaGuardConfig(GuardBase):
    """Output only: the answer must be JSON, valid against the request's ``response_format``
    schema or ``schema`` here; one repair retry feeds the validation error back to the model."""

    guard: Literal["json_schema"]
    json_schema: JSONSchema | None = Field(None, alias="schema")
    repair: bool = True

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RefusalGuardConfig(GuardBase):
    guard: Literal["refusal"]
    action: Action = "flag"


class CitationsGuardConfig(GuardBase):
    guard: Literal["citations"]
    action: Action = "flag"
    pattern: str = Field(r"\[\d+\]", description="a citation marker the answer must contain")


GuardConfig = Annotated[
    PIIGuardConfig
    | SecretsGuardConfig
    | InjectionGuardConfig
    | ContentGuardConfig
    | JSONSchemaGuardConfig
    | RefusalGuardConfig
    | CitationsGuardConfig,
    Field(discriminator="guard"),
]


class ToolPolicyConfig(Strict):
    allow: list[str] | None = Field(None, description="tool names callable on this policy; None: any")
    require_approval: list[str] = Field(default_factory=list, description="held, never returned as calls")
    schemas: dict[str, JSONSchema] = Field(
        default_factory=dict, description="tool name -> JSON Schema of its arguments (else the request's)"
    )
    validate_arguments: bool = True
    action: Literal["block", "flag"] = "block"


class AgentLimitsConfig(Strict):
    """Per agent session (the ``x-pilothouse-session`` header); ``None`` means unlimited."""

    max_steps: int | None = Field(None, ge=1, description="chat requests per session")
    max_tokens: int | None = Field(None, ge=1)
    max_cost_usd: Decimal | None = Field(None, gt=0)
    max_identical_calls: int | None = Field(
        None, ge=1, description="the same tool call (name and arguments) this many times is a loop"
    )
    idle_seconds: float = Field(3600.0, gt=0, description="a session forgotten after this long")


OUTPUT_ONLY = ("json_schema", "refusal", "citations")
REDACTING = ("pii", "secrets")


class PolicyConfig(Strict):
    input: list[GuardConfig] = Field(default_factory=list)
    context: list[GuardConfig] = Field(
        default_factory=list, description="applied to tool results and retrieved content"
    )
    output: list[GuardConfig] = Field(default_factory=list)
    storage: PayloadPolicy | None = Field(
        None, description="what traces keep; default: storage.store_payloads"
    )
    safe_route: str | None = Field(None, description="where the escalate action sends a request")
    tools: ToolPolicyConfig | None = None
    agent: AgentLimitsConfig | None = None

    @model_validator(mode="after")
    def _check_guards(self) -> PolicyConfig:
        for direction in ("input", "context", "output"):
            for i, guard in enumerate(getattr(self, direction)):
                where = f"{direction}[{i}]"
                if guard.guard in OUTPUT_ONLY and direction != "output":
                    raise ValueError(f"{where}: the {guard.guard} guard checks answers: put it under output")
                if guard.action == "redact" and guard.guard not in REDACTING:
                    raise ValueError(f"{where}: only pii and secrets guards can redact")
                if guard.action == "escalate" and self.safe_route is None:
                    raise ValueError(f"{where}: escalate needs the policy's safe_route")
                if guard.action == "escalate" and direction == "output":
                    raise ValueError(f"{where}: escalate reroutes a request before it is sent: not on output")
        return self


class KillSwitchConfig(Strict):
    routes: list[str] = Field(default_factory=list, description="routes answering 503 at once")
    tools: list[str] = Field(default_factory=list, description="tools never returned as calls")


class GuardSettings(Strict):
    policies: dict[str, PolicyConfig] = Field(default_factory=dict)
    routes: dict[str, str] = Field(default_factory=dict, description="route or model name -> policy")
    teams: dict[str, str] = Field(default_factory=dict, description="team name -> policy")
    default: str | None = Field(None, description="policy for requests no route or team names")
    kill: KillSwitchConfig = KillSwitchConfig()
