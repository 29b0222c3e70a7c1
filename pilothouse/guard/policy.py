"""Policies resolved from config into ready-to-run guards, and which policy a request gets.

A request's policy is its route's (or model's) policy, then its team's, then ``guard.default``
when neither names one. When both the route and the team name a policy, both apply: their guards
run one after the other (route first), the stricter storage rule wins, and the route's tools,
agent limits and safe route win over the team's where both set them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pilothouse.core.guarding import (
    Action,
    CitationsGuardConfig,
    ContentGuardConfig,
    GuardConfig,
    GuardSettings,
    InjectionGuardConfig,
    JSONSchemaGuardConfig,
    PayloadPolicy,
    PIIGuardConfig,
    PolicyConfig,
    RefusalGuardConfig,
    SecretsGuardConfig,
    ToolPolicyConfig,
)
from pilothouse.guard.agent import SessionLimiter, SessionLimits, SessionStoreFactory
from pilothouse.guard.content import ContentPolicy
from pilothouse.guard.injection import InjectionDetector
from pilothouse.guard.pii import PIIScanner
from pilothouse.guard.types import Finding

TextCheck = Callable[[str], list[Finding]]
_Check = TypeVar("_Check", JSONSchemaGuardConfig, RefusalGuardConfig, CitationsGuardConfig)

_STORAGE_STRICTNESS: dict[PayloadPolicy, int] = {"full": 0, "redacted": 1, "none": 2}


@dataclass(frozen=True, slots=True)
class TextGuard:
    """One configured guard over text: what it is, what it does on a finding, how it looks."""

    name: str  # the config's ``guard``: pii, secrets, injection, content
    action: Action
    check: TextCheck
    scanner: PIIScanner | None = None  # the redacting guards' scanner
    restore: bool = False  # redact: put the values back into the answer


def compile_text_guard(cfg: GuardConfig) -> TextGuard | None:
    """The runnable guard for a text guard config; None for the answer checks (schema, refusal...)."""
    if isinstance(cfg, PIIGuardConfig | SecretsGuardConfig):
        scanner = PIIScanner.from_config(cfg)
        restore = cfg.restore if isinstance(cfg, PIIGuardConfig) else False
        return TextGuard(cfg.guard, cfg.action, scanner.scan, scanner, restore)
    if isinstance(cfg, InjectionGuardConfig):
        return TextGuard(cfg.guard, cfg.action, InjectionDetector.from_config(cfg).scan)
    if isinstance(cfg, ContentGuardConfig):
        return TextGuard(cfg.guard, cfg.action, ContentPolicy.from_config(cfg).check)
    return None


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    name: str
    input: tuple[TextGuard, ...] = ()
    context: tuple[TextGuard, ...] = ()
    output: tuple[TextGuard, ...] = ()
    json_schema: JSONSchemaGuardConfig | None = None
    refusal: RefusalGuardConfig | None = None
    citations: CitationsGuardConfig | None = None
    storage: PayloadPolicy | None = None
    safe_route: str | None = None
    tools: ToolPolicyConfig | None = None
    agent: SessionLimits | None = None

    @property
    def checks_requests(self) -> bool:
        return bool(self.input or self.context)

    @property
    def checks_answers(self) -> bool:
        return bool(self.output or self.json_schema or self.refusal or self.citations)

    @classmethod
    def compile(
        cls, name: str, cfg: PolicyConfig, sessions: SessionStoreFactory = SessionLimiter
    ) -> GuardPolicy:
        def text_guards(configs: list[GuardConfig]) -> tuple[TextGuard, ...]:
            compiled = (compile_text_guard(c) for c in configs if c.enabled)
            return tuple(g for g in compiled if g is not None)

        def first(kind: type[_Check]) -> _Check | None:
            return next((c for c in cfg.output if isinstance(c, kind) and c.enabled), None)

        return cls(
            name=name,
            input=text_guards(cfg.input),
            context=text_guards(cfg.context),
            output=text_guards(cfg.output),
            json_schema=first(JSONSchemaGuardConfig),
            refusal=first(RefusalGuardConfig),
            citations=first(CitationsGuardConfig),
            storage=cfg.storage,
            safe_route=cfg.safe_route,
            tools=cfg.tools,
            agent=sessions(cfg.agent) if cfg.agent is not None else None,
        )

    def then(self, other: GuardPolicy) -> GuardPolicy:
        """This policy and then ``other`` (see the module docstring for who wins what)."""
        storage = max(
            (s for s in (self.storage, other.storage) if s is not None),
            key=_STORAGE_STRICTNESS.__getitem__,
            default=None,
        )
        return GuardPolicy(
            name=f"{self.name}+{other.name}",
            input=self.input + other.input,
            context=self.context + other.context,
            output=self.output + other.output,
            json_schema=self.json_schema or other.json_schema,
            refusal=self.refusal or other.refusal,
            citations=self.citations or other.citations,
            storage=storage,
            safe_route=self.safe_route or other.safe_route,
            tools=self.tools or other.tools,
            agent=self.agent or other.agent,
        )


@dataclass(slots=True)
class KillSwitch:
    """Routes and tools switched off for everyone; the admin API flips them at run time."""

    routes: set[str] = field(default_factory=set)
    tools: set[str] = field(default_factory=set)


class GuardBook:
    """Every compiled policy, and the policy each (route, team) pair gets."""

    def __init__(self, settings: GuardSettings, *, sessions: SessionStoreFactory = SessionLimiter) -> None:
        """``sessions`` builds each policy's agent-session store (in memory unless told otherwise)."""
        self._settings = settings
        self._policies = {
            name: GuardPolicy.compile(name, cfg, sessions) for name, cfg in settings.policies.items()
        }
        self._merged: dict[tuple[str, str | None], GuardPolicy | None] = {}
        self._lock = threading.Lock()
        self.kill = KillSwitch(set(settings.kill.routes), set(settings.kill.tools))

    @property
    def empty(self) -> bool:
        return not self._policies and not self.kill.routes and not self.kill.tools

    def policies(self) -> dict[str, GuardPolicy]:
        return dict(self._policies)

    def policy_for(self, route: str, team: str | None) -> GuardPolicy | None:
        key = (route, team)
        try:
            return self._merged[key]
        except KeyError:
            pass
        settings = self._settings
        names = [n for n in (settings.routes.get(route), settings.teams.get(team or "")) if n]
        if not names and settings.default:
            names = [settings.default]
        policy: GuardPolicy | None = None
        for name in dict.fromkeys(names):  # a policy named by both applies once
            found = self._policies[name]
            policy = found if policy is None else policy.then(found)
        with self._lock:
            self._merged[key] = policy
        return policy
