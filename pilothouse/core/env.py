"""Every environment variable Pilothouse reads, named in one place."""

from __future__ import annotations

CONFIG_PATH = "PILOTHOUSE_CONFIG"  # path of pilothouse.yaml when --config is not given
ADMIN_KEY = "PILOTHOUSE_ADMIN_KEY"  # default source of the admin key in starter configs
LOG_LEVEL = "PILOTHOUSE_LOG_LEVEL"
USER = "USER"  # who made a prompt change, when the CLI is not told (--who)
