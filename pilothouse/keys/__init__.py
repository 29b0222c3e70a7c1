"""Virtual keys: minting, hashing and authenticating bearer tokens."""

from pilothouse.keys.auth import KeyAuthenticator, Principal
from pilothouse.keys.secrets import display_prefix, generate_secret, hash_secret
from pilothouse.keys.service import KeyService

__all__ = ["KeyAuthenticator", "KeyService", "Principal", "display_prefix", "generate_secret", "hash_secret"]
