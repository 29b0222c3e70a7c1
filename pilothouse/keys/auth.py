"""Bearer-key authentication with an in-memory cache, so the hot path does no storage read for
known keys. Revocations made through this process apply at once; those made by another process
(the CLI) apply within ``cache_ttl`` seconds."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from pydantic import SecretStr

from pilothouse.core.errors import AuthenticationFailed, PermissionDenied
from pilothouse.core.ports import KeyStore
from pilothouse.core.records import KeyRecord
from pilothouse.keys.secrets import hash_secret

ADMIN_SCOPE = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a stored key, or the configured admin key."""

    key_id: str
    name: str
    team_id: str | None
    team_name: str | None
    scopes: frozenset[str]
    models: frozenset[str] | None  # None: every model
    expires_at: float | None  # unix seconds
    revoked: bool
    tools: frozenset[str] | None = None  # None: any tool

    @property
    def is_admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes and not self.is_admin:
            raise PermissionDenied(f"this key lacks the '{scope}' scope", code="missing_scope")

    def require_model(self, model: str) -> None:
        if self.models is not None and model not in self.models:
            raise PermissionDenied(f"this key may not use model '{model}'", code="model_not_allowed")

    @classmethod
    def from_record(cls, record: KeyRecord) -> Principal:
        return cls(
            key_id=record.key_id,
            name=record.name,
            team_id=record.team_id,
            team_name=record.team_name,
            scopes=frozenset(record.scopes),
            models=frozenset(record.models) if record.models is not None else None,
            expires_at=record.expires_at.timestamp() if record.expires_at else None,
            revoked=record.revoked_at is not None,
            tools=frozenset(record.tools) if record.tools is not None else None,
        )


ADMIN_PRINCIPAL = Principal("admin", "admin", None, None, frozenset({ADMIN_SCOPE}), None, None, False)


def bearer_token(header: bytes | None) -> str:
    if not header:
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
            code="missing_api_key",
        )
    scheme, _, token = header.decode("latin-1").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("Malformed Authorization header: expected 'Bearer YOUR_KEY'.")
    return token


class KeyAuthenticator:
    def __init__(
        self,
        store: KeyStore,
        *,
        admin_key: SecretStr | None = None,
        cache_ttl: float = 10.0,
        cache_max: int = 10_000,
    ) -> None:
        self._store = store
        self._admin = admin_key.get_secret_value().encode() if admin_key else None
        self._ttl = cache_ttl
        self._max = cache_max
        self._cache: dict[str, tuple[Principal | None, float]] = {}

    async def authenticate(self, header: bytes | None) -> Principal:
        token = bearer_token(header)
        if self._admin is not None and hmac.compare_digest(token.encode(), self._admin):
            return ADMIN_PRINCIPAL
        key_hash = hash_secret(token)
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[1] > now:
            principal = cached[0]
        else:
            record = await self._store.find_by_hash(key_hash)
            principal = Principal.from_record(record) if record is not None else None
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[key_hash] = (principal, now + self._ttl)
        if principal is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        if principal.revoked:
            raise AuthenticationFailed("This API key has been revoked.", code="key_revoked")
        if principal.expires_at is not None and principal.expires_at <= time.time():
            raise AuthenticationFailed("This API key has expired.", code="key_expired")
        return principal

    def forget(self, key_hash: str | None = None) -> None:
        """Drop cached lookups (one key, or all) after a change made in this process."""
        if key_hash is None:
            self._cache.clear()
        else:
            self._cache.pop(key_hash, None)
