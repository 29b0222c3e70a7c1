"""A small trained classifier over WordLlama embeddings, in numpy only.

WordLlama (``wordllama`` package, extra ``local``) ships static token embeddings and its tokenizer in
the wheel; a text's vector is the mean of its token vectors, so one tokenization gives the vector
of every window of the text through a cumulative sum. Each row (the whole text, then windows of
``window`` tokens every ``stride`` tokens) is scored from its unit-length embedding, the heuristic
family scores of the signals inside it and a few cheap text statistics, by a logistic regression or
a one-hidden-layer MLP whose weights (ours, trained by ``bench/injection/train.py``) ship in
``weights.json``. The text's classifier score is the highest row score, so one injected paragraph
in a long document is not averaged away.

The model loads once per process, lazily, from files inside installed packages; nothing is ever
downloaded. Without ``wordllama`` (or with an unreadable weights file) ``load_model`` returns
``None`` and the detector runs on heuristics alone.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pilothouse.guard.injection.heuristics import HeuristicResult, Signal
from pilothouse.guard.injection.rules import FAMILIES

log = logging.getLogger(__name__)

WEIGHTS_PATH = Path(__file__).with_name("weights.json")
FORMAT = 1
TEXT_FEATURES = ("log_tokens", "upper_ratio", "symbol_ratio", "second_person", "newline_ratio")

Matrix = NDArray[np.float32]


BIGRAM_BUCKETS = 1 << 15
_CHUNK = re.compile(r" *[^ ]+| +")
_CHUNK_CACHE = 50_000  # distinct chunks kept; cleared when full
_YOU = re.compile("you", re.IGNORECASE)
_YOUR = re.compile("your", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rows:
    """What gets scored for one text: dense feature rows, the token range and the original character
    span of each row (row 0 is the whole text), and the hashed bigram bucket of each token pair."""

    features: Matrix
    bounds: tuple[tuple[int, int], ...]
    spans: tuple[tuple[int, int], ...]
    buckets: NDArray[np.int64]


def _decode(blob: dict[str, Any]) -> Matrix:
    raw = base64.b64decode(blob["data"])
    dtype = blob.get("dtype", "<f4")
    return np.frombuffer(raw, dtype=dtype).reshape(blob["shape"]).astype(np.float32)


def encode_array(array: NDArray[Any], dtype: str = "<f4") -> dict[str, Any]:
    data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    return {"shape": list(array.shape), "dtype": dtype, "data": base64.b64encode(data).decode("ascii")}


def bigram_means(weights: Matrix, buckets: NDArray[np.int64], bounds: tuple[tuple[int, int], ...]) -> Matrix:
    """Per row, the mean bigram weight over the token pairs inside the row (cumulative sum)."""
    sums = np.zeros(len(buckets) + 1, dtype=np.float64)
    if len(buckets):
        np.cumsum(weights[buckets], out=sums[1:])
    starts = np.array([b[0] for b in bounds])
    ends = np.maximum(np.array([b[1] for b in bounds]) - 1, starts)  # pairs (i, i+1) with i+1 < end
    counts = np.maximum(ends - starts, 1)
    result: Matrix = ((sums[ends] - sums[starts]) / counts).astype(np.float32)
    return result


@dataclass(frozen=True, slots=True)
class Network:
    """Standardise, dense layers with ReLU between them, plus the mean of hashed token-bigram weights
    (a fastText-style term for phrases the mean embedding blurs), then a sigmoid."""

    mean: Matrix
    scale: Matrix
    layers: tuple[tuple[Matrix, Matrix], ...]
    bigrams: Matrix
    window: int
    stride: int

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Network:
        if doc.get("format") != FORMAT:
            raise ValueError(f"weights format {doc.get('format')!r}, expected {FORMAT}")
        layers = tuple((_decode(layer["W"]), _decode(layer["b"])) for layer in doc["layers"])
        bigrams = _decode(doc["bigrams"])
        if bigrams.shape != (BIGRAM_BUCKETS,):
            raise ValueError(f"bigram table of shape {bigrams.shape}, expected ({BIGRAM_BUCKETS},)")
        return cls(
            _decode(doc["mean"]),
            _decode(doc["scale"]),
            layers,
            bigrams,
            int(doc["window"]),
            int(doc["stride"]),
        )

    def logits(self, rows: Rows) -> Matrix:
        x = (rows.features - self.mean) / self.scale
        for index, (weights, bias) in enumerate(self.layers):
            x = x @ weights + bias
            if index < len(self.layers) - 1:
                np.maximum(x, 0.0, out=x)
        result: Matrix = x[:, 0] + bigram_means(self.bigrams, rows.buckets, rows.bounds)
        return result

    def probabilities(self, rows: Rows) -> Matrix:
        logits = np.clip(self.logits(rows), -30.0, 30.0)
        result: Matrix = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return result


class Embedder:
    """WordLlama's tokenizer and embedding matrix, used directly (no padding, one text at a time)."""

    def __init__(self) -> None:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        wordllama = importlib.import_module("wordllama")
        # wordllama calls logging.basicConfig(level=INFO) on import; keep the host's logging as it was.
        root.handlers[:] = handlers
        root.setLevel(level)
        if wordllama.__file__ is None:
            raise ImportError("wordllama is installed without its package files")
        package_dir = Path(wordllama.__file__).parent
        # The wheel ships weights/ and tokenizers/; as cache_dir the package folder matches both and
        # disable_download makes a missing file an error instead of a hub request.
        model = wordllama.WordLlama.load(
            config="l2_supercat", dim=256, cache_dir=package_dir, disable_download=True
        )
        # A copy without the normaliser's "prepend a word marker" step, so a chunk's own leading
        # space becomes its marker exactly as it does inside the whole text.
        tokenizers = importlib.import_module("tokenizers")
        self._tokenizer = tokenizers.Tokenizer.from_str(model.tokenizer.to_str())
        self._tokenizer.normalizer = tokenizers.normalizers.Replace(" ", "\u2581")
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._chunks: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
        self.matrix: Matrix = np.ascontiguousarray(model.embedding, dtype=np.float32)
        self.dim = int(self.matrix.shape[1])

    def tokens(self, text: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Token ids and their (start, end) character offsets.

        Tokenised per chunk (leading spaces plus a word) through a cache: the tokenizer turns
        spaces into a word-start marker its merges never cross, so chunk by chunk gives the tokens
        of the whole text at a fraction of the cost (most words of a document were seen before).
        The text is read as if it began with a space, as the tokenizer itself would."""
        ids: list[int] = []
        local: list[tuple[int, int]] = []
        starts: list[int] = []
        counts: list[int] = []
        cache = self._chunks
        for match in _CHUNK.finditer(" " + text):
            chunk = match.group(0)
            entry = cache.get(chunk)
            if entry is None:
                encoding = self._tokenizer.encode(chunk, add_special_tokens=False)
                entry = (encoding.ids, encoding.offsets)
                if len(cache) >= _CHUNK_CACHE:
                    cache.clear()
                cache[chunk] = entry
            ids.extend(entry[0])
            local.extend(entry[1])
            starts.append(match.start() - 1)  # back to the caller's text, without the added space
            counts.append(len(entry[0]))
        token_ids = np.asarray(ids, dtype=np.int64)
        np.clip(token_ids, 0, self.matrix.shape[0] - 1, out=token_ids)
        offsets = np.asarray(local, dtype=np.int64).reshape(-1, 2)
        offsets += np.repeat(np.asarray(starts, dtype=np.int64), counts)[:, None]
        np.maximum(offsets, 0, out=offsets)
        return token_ids, offsets


def text_statistics(text: str, spans: tuple[tuple[int, int], ...], tokens: list[int]) -> Matrix:
    """``TEXT_FEATURES`` for every row, from prefix sums over the text's code points (a Python loop
    per window would cost more than the whole classifier)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    upper = (codes >= 65) & (codes <= 90)
    letter = upper | ((codes >= 97) & (codes <= 122)) | (codes > 127)  # non-ASCII counted as letters
    digit = (codes >= 48) & (codes <= 57)
    blank = codes == 32
    newline = codes == 10
    space = blank | newline | (codes == 9) | (codes == 13)
    symbol = ~(letter | digit | space)
    prefix = np.zeros((5, len(codes) + 1), dtype=np.int64)
    np.cumsum(np.vstack([letter, upper, symbol, blank, newline]), axis=1, out=prefix[:, 1:])
    second = np.array(
        [m.start() for m in _YOU.finditer(text)] + [m.start() for m in _YOUR.finditer(text)], dtype=np.int64
    )
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    letters, uppers, symbols, blanks, newlines = prefix[:, ends] - prefix[:, starts]
    sizes = np.maximum(ends - starts, 1)
    second.sort()
    second_person = np.maximum(
        np.searchsorted(second, ends - 3, side="right") - np.searchsorted(second, starts), 0
    )
    result: Matrix = np.column_stack(
        [
            np.log1p(np.asarray(tokens)) / 8.0,
            uppers / np.maximum(letters, 1),
            symbols / sizes,
            np.minimum(1.0, second_person / (blanks + 1) * 5.0),
            np.minimum(1.0, newlines / sizes * 20.0),
        ]
    ).astype(np.float32)
    return result


def window_bounds(count: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Token index ranges of the windows after the whole-text row; none when the text fits one."""
    if count <= window:
        return []
    starts = list(range(0, count - window + 1, stride))
    if starts[-1] + window < count:
        starts.append(count - window)
    return [(s, s + window) for s in starts]


def family_rows(signals: tuple[Signal, ...], spans: tuple[tuple[int, int], ...]) -> Matrix:
    """Per row, each family's noisy OR over the signals overlapping the row's characters."""
    misses = np.ones((len(spans), len(FAMILIES)), dtype=np.float32)
    for signal in signals:
        column = FAMILIES.index(signal.family)
        for row, (start, end) in enumerate(spans):
            if signal.start < end and signal.end > start:
                misses[row, column] *= 1.0 - signal.weight
    result: Matrix = 1.0 - misses
    return result


def _row_means(tokens: Matrix, bounds: list[tuple[int, int]], stride: int) -> Matrix:
    """Mean token vector of each row. Windows start on multiples of ``stride`` (but the last), so
    they are sums of whole blocks of ``stride`` tokens: one contiguous reduction instead of a
    cumulative sum over every token."""
    count = len(tokens)
    blocks = np.add.reduceat(tokens, np.arange(0, count, stride), axis=0)
    prefix = np.zeros((len(blocks) + 1, tokens.shape[1]), dtype=np.float32)
    np.cumsum(blocks, axis=0, out=prefix[1:])
    means = np.empty((len(bounds), tokens.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(bounds):
        if start % stride == 0 and (end % stride == 0 or end == count):
            means[row] = (prefix[-(-end // stride)] - prefix[start // stride]) / (end - start)
        else:
            means[row] = tokens[start:end].mean(axis=0)
    return means


def build_rows(embedder: Embedder, text: str, heuristics: HeuristicResult, window: int, stride: int) -> Rows:
    """Rows of one text. Tokenised in its folded form (lowercase, look-alikes and leetspeak undone),
    so "IGNORE", "Ignore" and a Cyrillic look-alike spelling give the same tokens; spans map back to
    the original text."""
    folded = heuristics.folded
    ids, offsets = embedder.tokens(folded.text)
    count = len(ids)
    bounds = [(0, count), *window_bounds(count, window, stride)]
    if count:
        vectors = _row_means(embedder.matrix[ids], bounds, stride)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        spans = tuple(folded.span(int(offsets[s][0]), int(offsets[e - 1][1])) for s, e in bounds)
        buckets = (ids[:-1] * 1_000_003 + ids[1:]) % BIGRAM_BUCKETS
    else:
        vectors = np.zeros((1, embedder.dim), dtype=np.float32)
        spans = ((0, len(text)),)
        buckets = np.zeros(0, dtype=np.int64)
    statistics = text_statistics(text, spans, [e - s for s, e in bounds])
    features = np.hstack([vectors.astype(np.float32), family_rows(heuristics.signals, spans), statistics])
    return Rows(features.astype(np.float32), tuple(bounds), spans, buckets.astype(np.int64))


@dataclass(frozen=True, slots=True)
class Model:
    embedder: Embedder
    network: Network

    def rows(self, text: str, heuristics: HeuristicResult) -> Rows:
        return build_rows(self.embedder, text, heuristics, self.network.window, self.network.stride)

    def score(self, text: str, heuristics: HeuristicResult) -> tuple[float, tuple[int, int]]:
        """The highest row probability and the character span of that row."""
        rows = self.rows(text, heuristics)
        probabilities = self.network.probabilities(rows)
        best = int(np.argmax(probabilities))
        return float(probabilities[best]), rows.spans[best]


class _Cache:
    """The one model of the process: loaded on first use, shared by every detector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Model | None = None
        self._error: str | None = None

    def get(self, path: Path) -> Model | None:
        if self._model is not None or self._error is not None:
            return self._model
        with self._lock:
            if self._model is None and self._error is None:
                try:
                    network = Network.from_json(json.loads(path.read_text(encoding="utf-8")))
                    self._model = Model(Embedder(), network)
                except Exception as exc:  # any failure means heuristics only, never a crash
                    self._error = f"{type(exc).__name__}: {exc}"
                    log.warning("injection classifier unavailable, using heuristics only (%s)", self._error)
        return self._model

    @property
    def error(self) -> str | None:
        return self._error


_CACHE = _Cache()


def load_model() -> Model | None:
    """The shared classifier, or ``None`` when ``wordllama`` or the weights cannot be loaded."""
    return _CACHE.get(WEIGHTS_PATH)


def unavailable_reason() -> str | None:
    return _CACHE.error
