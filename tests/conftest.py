from __future__ import annotations

import os

# Service fixtures (real servers started once per session) for any test that asks for them.
pytest_plugins = ["tests.clock", "tests.pg_service", "tests.services"]

# Nothing may be fetched from a model hub at run time, in tests least of all.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
