"""Key material. Secrets are 256-bit random tokens, so a plain SHA-256 is a sound stored form
(no password stretching needed) and keeps lookups to one indexed read."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "ph-"


def generate_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    """Enough of the secret to recognise it in a list, too little to use it."""
    return secret[:10]
