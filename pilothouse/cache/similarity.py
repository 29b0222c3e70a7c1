"""Cosine similarity over a bounded set of stored vectors.

Vectors are stored unit-length as little-endian float32 bytes (compact in Redis, identical in
memory), so cosine is a dot product. numpy is not a dependency of the gateway: when it is importable
(it comes with the local embedder) one matrix product scores a whole bucket; otherwise pure Python
does, about 15 microseconds per 256-dimension candidate, which the per-bucket bound keeps small.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import struct
from collections.abc import Sequence
from operator import mul
from typing import Any

# Optional fast path, imported by name so the type checker does not need numpy either.
np: Any = importlib.import_module("numpy") if importlib.util.find_spec("numpy") is not None else None


def normalize(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else [0.0] * len(vector)


def pack(vector: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack(blob: bytes) -> tuple[float, ...]:
    return struct.unpack(f"<{len(blob) // 4}f", blob)


def best_match(
    query: Sequence[float], candidates: Sequence[tuple[str, bytes]], *, use_numpy: bool = True
) -> tuple[str, float] | None:
    """The candidate most similar to the unit-length ``query``, with its cosine similarity.

    Candidates of another width (an embedder changed under the same name) are ignored.
    """
    width = len(query) * 4
    usable = [(key, blob) for key, blob in candidates if len(blob) == width]
    if not usable:
        return None
    if use_numpy and np is not None:
        matrix = np.frombuffer(b"".join(blob for _, blob in usable), dtype="<f4").reshape(len(usable), -1)
        scores = matrix @ np.asarray(query, dtype=np.float32)
        best = int(scores.argmax())
        return usable[best][0], float(scores[best])
    best_key, best_score = usable[0][0], -2.0
    for key, blob in usable:
        score = sum(map(mul, query, unpack(blob)))
        if score > best_score:
            best_key, best_score = key, score
    return best_key, best_score
