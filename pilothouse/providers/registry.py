"""Find a provider class by its config ``type`` and build it with validated options."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from pilothouse.core.config import ProviderConfig
from pilothouse.core.errors import ConfigError
from pilothouse.core.ports import Provider

# Built-ins, so an uninstalled source checkout works too; entry points add plugins.
BUILTIN = {
    "openai": "pilothouse.providers.openai:OpenAIProvider",
    "anthropic": "pilothouse.providers.anthropic:AnthropicProvider",
    "local": "pilothouse.providers.local:LocalProvider",
    "fake": "pilothouse.providers.fake:FakeProvider",
}


class ProviderClass(Protocol):
    Options: type[BaseModel]

    def __call__(self, name: str, options: Any) -> Provider: ...


def _load(target: str) -> ProviderClass:
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=[attr])
    cls: ProviderClass = getattr(module, attr)
    return cls


def provider_class(type_name: str) -> ProviderClass:
    if type_name in BUILTIN:
        return _load(BUILTIN[type_name])
    for ep in entry_points(group="pilothouse.providers"):
        if ep.name == type_name:
            cls: ProviderClass = ep.load()
            return cls
    known = sorted({*BUILTIN, *(ep.name for ep in entry_points(group="pilothouse.providers"))})
    raise ConfigError(f"unknown provider type {type_name!r} (known: {', '.join(known)})")


def build_provider(name: str, config: ProviderConfig) -> Provider:
    path = f"providers.{name}"
    try:
        cls = provider_class(config.type)
    except ConfigError as exc:
        raise ConfigError(exc.message, path=f"{path}.type") from None
    try:
        options = cls.Options.model_validate(config.options())
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            first["msg"].removeprefix("Value error, "), path=f"{path}.{loc}" if loc else path
        ) from None
    return cls(name, options)
