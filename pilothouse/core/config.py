"""The ``pilothouse.yaml`` schema: parsed strictly (unknown keys are errors), secrets resolved from
``env:NAME`` / ``file:PATH``, and every error reported with its key path."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from pilothouse.core.errors import ConfigError
from pilothouse.core.guarding import GuardSettings
from pilothouse.core.traffic import (
    BreakerConfig,
    BudgetConfig,
    LimitsConfig,
    LimitSpec,
    RedisConfig,
    RouteConfig,
)


def resolve_secret(value: str) -> SecretStr:
    """``env:NAME`` reads the environment, ``file:PATH`` reads a file; anything else is literal."""
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return SecretStr(os.environ[name])
    if value.startswith("file:"):
        path = Path(value[5:]).expanduser()
        try:
            return SecretStr(path.read_text().strip())
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    return SecretStr(value)


Secret = Annotated[SecretStr, BeforeValidator(lambda v: resolve_secret(v) if isinstance(v, str) else v)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0, description="larger request bodies get 413")
    drain_seconds: float = Field(30.0, ge=0, description="how long shutdown waits for in-flight streams")
    request_timeout: float = Field(120.0, gt=0, description="default upstream timeout per attempt")


class StorageConfig(Strict):
    url: str = "sqlite:///.pilothouse/pilothouse.db"
    store_payloads: Literal["full", "redacted", "none"] = Field(
        "redacted", description="what traces keep of messages and outputs; redacted: PII and secrets replaced"
    )


class TracesConfig(Strict):
    batch_size: int = Field(500, gt=0)
    flush_interval_ms: int = Field(100, gt=0)
    queue_max: int = Field(200_000, gt=0, description="records held in memory while the store is slow")


class ProviderConfig(BaseModel):
    """``type`` picks the adapter; the other keys are that adapter's options, validated by it."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ModelConfig(Strict):
    name: str = Field(min_length=1, description="public model name clients send")
    provider: str
    upstream: str = Field(min_length=1, description="the provider's own model name")
    kind: Literal["chat", "embedding"] = "chat"
    input_price: Decimal = Field(Decimal(0), ge=0, description="USD per million input tokens")
    output_price: Decimal = Field(Decimal(0), ge=0, description="USD per million output tokens")
    cached_input_price: Decimal | None = Field(None, ge=0, description="USD per million cached input tokens")
    context_window: int = Field(8192, gt=0)
    timeout: float | None = Field(None, gt=0)
    weight: float = Field(1.0, gt=0, description="share of traffic under the weighted strategy")
    tier: int = Field(0, ge=0, description="cascade order: lower tiers are tried first")
    prefill: bool = Field(False, description="continues a trailing assistant message (stream resume)")
    limits: LimitSpec | None = None


class KeyConfig(Strict):
    """A key created at start-up if its hash is not stored yet (for CI and demos)."""

    name: str
    secret: Secret
    team: str | None = None
    scopes: list[str] = Field(default_factory=lambda: ["chat", "embeddings", "models"])
    models: list[str] | None = None
    tools: list[str] | None = Field(None, description="tool calls outside these never reach the client")
    expires_at: datetime | None = None


class Config(Strict):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    traces: TracesConfig = TracesConfig()
    admin_key: Secret | None = None
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: list[ModelConfig] = Field(default_factory=list)
    keys: list[KeyConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    limits: LimitsConfig = LimitsConfig()
    budgets: list[BudgetConfig] = Field(default_factory=list)
    circuit_breaker: BreakerConfig = BreakerConfig()
    redis: RedisConfig | None = None
    guard: GuardSettings = GuardSettings()

    @model_validator(mode="after")
    def _check_references(self) -> Config:
        seen: set[str] = set()
        for i, model in enumerate(self.models):
            if model.provider not in self.providers:
                known = ", ".join(sorted(self.providers)) or "none"
                raise ValueError(
                    f"models[{i}].provider: unknown provider {model.provider!r} (known: {known})"
                )
            if model.name in seen:
                raise ValueError(f"models[{i}].name: duplicate model name {model.name!r}")
            seen.add(model.name)
        for i, route in enumerate(self.routes):
            if route.name in seen:
                raise ValueError(f"routes[{i}].name: {route.name!r} is already a model or route name")
            seen.add(route.name)
            for field in ("deployments", "fallbacks"):
                for j, name in enumerate(getattr(route, field)):
                    target = self.model(name)
                    if target is None:
                        raise ValueError(f"routes[{i}].{field}[{j}]: unknown model {name!r}")
                    if target.kind != "chat":
                        raise ValueError(f"routes[{i}].{field}[{j}]: {name!r} is not a chat model")
            if (
                route.cache
                and route.cache.embedding_model
                and self.model(route.cache.embedding_model) is None
            ):
                raise ValueError(
                    f"routes[{i}].cache.embedding_model: unknown model {route.cache.embedding_model!r}"
                )
        for i, budget in enumerate(self.budgets):
            if budget.scope == "route" and budget.name not in seen:
                raise ValueError(f"budgets[{i}].name: unknown route or model {budget.name!r}")
        self._check_guard_references(seen)
        return self

    def _check_guard_references(self, routes: set[str]) -> None:
        guard = self.guard
        known = ", ".join(sorted(guard.policies)) or "none"
        refs = [(f"guard.routes.{r}", p) for r, p in guard.routes.items()]
        refs += [(f"guard.teams.{t}", p) for t, p in guard.teams.items()]
        refs += [("guard.default", guard.default)] if guard.default else []
        for path, name in refs:
            if name not in guard.policies:
                raise ValueError(f"{path}: unknown policy {name!r} (known: {known})")
        for route in guard.routes:
            if route not in routes:
                raise ValueError(f"guard.routes.{route}: unknown route or model {route!r}")
        for i, route in enumerate(guard.kill.routes):
            if route not in routes:
                raise ValueError(f"guard.kill.routes[{i}]: unknown route or model {route!r}")
        for name, compiled in guard.policies.items():
            if compiled.safe_route is not None and compiled.safe_route not in routes:
                raise ValueError(
                    f"guard.policies.{name}.safe_route: unknown route or model {compiled.safe_route!r}"
                )

    def route(self, name: str) -> RouteConfig | None:
        return next((r for r in self.routes if r.name == name), None)

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)

    def fingerprint(self) -> str:
        """A short hash of the effective config (secrets masked), stamped on traces."""
        data = self.model_dump(mode="json")
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


def default_config() -> Config:
    """The embedded defaults: the local SmolLM2 model and the local embedder, SQLite storage."""
    return Config(
        providers={"local": ProviderConfig(type="local")},
        models=[
            ModelConfig(
                name="smollm2", provider="local", upstream="smollm2-135m-instruct", context_window=2048
            ),
            ModelConfig(name="local-embed", provider="local", upstream="wordllama", kind="embedding"),
        ],
    )


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_config(data: Any, *, source: str = "pilothouse.yaml") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping", source=source)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _format_loc(tuple(first["loc"]))
        msg = first["msg"].removeprefix("Value error, ")
        if not path and ": " in msg:  # cross-field checks name their own path
            path, msg = msg.split(": ", 1)
        more = f" (and {exc.error_count() - 1} more errors)" if exc.error_count() > 1 else ""
        raise ConfigError(msg + more, path=path, source=source) from None


def read_yaml(path: Path) -> Any:
    """A YAML file's data; an unreadable file or bad YAML raises ConfigError naming file and line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}invalid YAML: {problem}", source=str(path)) from None


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; any problem raises ConfigError naming the file and key."""
    path = Path(path)
    return parse_config(read_yaml(path), source=str(path))
