"""The embedded provider: ``llama`` runs SmolLM2 on one worker thread, ``embedder`` runs the local
embedder, ``provider`` translates OpenAI requests and maps errors."""

from pilothouse.providers.local.provider import LocalOptions, LocalProvider

__all__ = ["LocalOptions", "LocalProvider"]
