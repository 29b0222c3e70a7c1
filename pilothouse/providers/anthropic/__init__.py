"""Anthropic Messages API provider: ``provider`` does I/O, ``convert`` and ``stream`` translate."""

from pilothouse.providers.anthropic.provider import AnthropicOptions, AnthropicProvider

__all__ = ["AnthropicOptions", "AnthropicProvider"]
