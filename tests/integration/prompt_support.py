"""Shared by the prompt tests: the CLI as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``pilothouse ARGS`` in a real process, finding ./pilothouse.yaml in ``cwd``."""
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pilothouse.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result
