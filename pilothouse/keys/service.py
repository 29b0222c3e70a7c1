"""Key lifecycle for the CLI, the admin API and start-up: create (secret shown once), list, revoke."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pilothouse.core.config import KeyConfig
from pilothouse.core.errors import NotFound
from pilothouse.core.ports import KeyStore
from pilothouse.core.records import KeyRecord
from pilothouse.keys.auth import KeyAuthenticator
from pilothouse.keys.secrets import display_prefix, generate_secret, hash_secret

DEFAULT_SCOPES = ("chat", "embeddings", "models")


class KeyService:
    def __init__(self, store: KeyStore, authenticator: KeyAuthenticator | None = None) -> None:
        self._store = store
        self._auth = authenticator

    async def create(
        self,
        name: str,
        *,
        team: str | None = None,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        models: Sequence[str] | None = None,
        expires_at: datetime | None = None,
        secret: str | None = None,
        tools: Sequence[str] | None = None,
    ) -> tuple[str, KeyRecord]:
        """Returns the secret (the only time it exists outside the caller) and the stored record."""
        secret = secret or generate_secret()
        record = await self._store.create_key(
            name=name,
            key_hash=hash_secret(secret),
            prefix=display_prefix(secret),
            team=team,
            scopes=list(scopes),
            models=list(models) if models is not None else None,
            expires_at=expires_at,
            tools=list(tools) if tools is not None else None,
        )
        if self._auth is not None:
            self._auth.forget(record.key_hash)  # a cached "unknown key" must not outlive its creation
        return secret, record

    async def list(self, *, include_revoked: bool = False) -> list[KeyRecord]:
        return await self._store.list_keys(include_revoked=include_revoked)

    async def revoke(self, key_id_or_prefix: str) -> KeyRecord:
        record = await self._store.revoke_key(key_id_or_prefix)
        if record is None:
            raise NotFound(f"No single key matches '{key_id_or_prefix}'.", code="key_not_found")
        if self._auth is not None:
            self._auth.forget(record.key_hash)
        return record

    async def ensure(self, spec: KeyConfig) -> KeyRecord:
        """Create a key declared in config unless its secret is already stored."""
        secret = spec.secret.get_secret_value()
        existing = await self._store.find_by_hash(hash_secret(secret))
        if existing is not None:
            return existing
        try:
            _, record = await self.create(
                spec.name,
                team=spec.team,
                scopes=spec.scopes,
                models=spec.models,
                expires_at=spec.expires_at,
                secret=secret,
                tools=spec.tools,
            )
        except Exception:
            # Replicas sharing one store start together: another may have stored it just now.
            existing = await self._store.find_by_hash(hash_secret(secret))
            if existing is None:
                raise
            return existing
        return record
