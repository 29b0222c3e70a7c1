"""Virtual keys: minting, hashing and authenticating bearer tokens."""

from pilothouse.keys.auth import KeyAuthenticator, Principal
from pilothouse.keys.secrets import display_prefix, generate_secret, hash_secret

__all__ = ["KeyAuthenticator", "Principal", "display_prefix", "generate_secret", "hash_secret"]
