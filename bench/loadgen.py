"""Closed-loop HTTP load generator for chat completions (aiohttp, one process, keep-alive).

``C`` workers each send one request, wait for the whole answer, and send the next, for a warm-up and
then a fixed measuring window, never more than ``--max-requests`` in all. Requests that finish inside
the window are counted and their latencies kept. For streams it also takes the time to the first
body bytes holding a ``data:`` event (time to first token as a client sees it) and checks that the
stream ended with ``data: [DONE]``.

Prints one JSON object on stdout: counts, requests/s in the window, latency and TTFT percentiles (ms).

Run: ``python bench/loadgen.py --url http://127.0.0.1:18900/v1/chat/completions -c 16 -d 5 [--stream]``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

PERCENTILES = (50, 90, 99)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(p / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def summary_ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    out = {f"p{p}": round(percentile(values, p) * 1000.0, 4) for p in PERCENTILES}
    out["mean"] = round(sum(values) / len(values) * 1000.0, 4) if values else 0.0
    out["max"] = round(values[-1] * 1000.0, 4) if values else 0.0
    return out


@dataclass
class Options:
    url: str
    concurrency: int
    duration: float
    warmup: float
    max_requests: int
    stream: bool
    body: bytes
    headers: dict[str, str]
    expect_header: str | None
    timeout: float
    vary: bool = False  # a unique prompt per request (cache lookups that miss, as in real traffic)


@dataclass
class Results:
    sent: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    first_error: str = ""
    missing_header: int = 0
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    done_in_window: int = 0


class LoadGen:
    def __init__(self, opts: Options) -> None:
        self.o = opts
        self.r = Results()
        self.window_start = 0.0
        self.window_end = 0.0
        self.run_tag = os.urandom(6).hex()  # --vary prompts stay unique across runs too (no cache hits)

    def _error(self, kind: str, detail: str) -> None:
        self.r.errors[kind] += 1
        if not self.r.first_error:
            self.r.first_error = f"{kind}: {detail}"[:500]

    async def _one(self, session: aiohttp.ClientSession) -> None:
        o = self.o
        started = time.perf_counter()
        first: float | None = None
        self.r.sent += 1
        data = o.body.replace(b"#N#", f"{self.run_tag}-{self.r.sent}".encode()) if o.vary else o.body
        try:
            async with session.post(o.url, data=data, headers=o.headers) as resp:
                if o.expect_header and o.expect_header not in resp.headers:
                    self.r.missing_header += 1
                if o.stream:
                    tail = b""
                    async for chunk in resp.content.iter_any():
                        if first is None and b"data:" in chunk:
                            first = time.perf_counter()
                        tail = (tail + chunk)[-64:]
                    if resp.status == 200 and b"[DONE]" not in tail:
                        self._error("stream_incomplete", tail.decode("utf-8", "replace"))
                        return
                    body = tail
                else:
                    body = await resp.read()
                if resp.status != 200:
                    self._error(f"http_{resp.status}", body.decode("utf-8", "replace"))
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._error(type(exc).__name__, str(exc))
            return
        ended = time.perf_counter()
        self.r.ok += 1
        # Requests are counted, and their latencies taken, when they finish inside the window.
        if self.window_start <= ended <= self.window_end:
            self.r.done_in_window += 1
            self.r.latencies.append(ended - started)
            if first is not None:
                self.r.ttfts.append(first - started)

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < self.window_end and self.r.sent < self.o.max_requests:
            await self._one(session)

    async def run(self) -> dict[str, Any]:
        o = self.o
        connector = aiohttp.TCPConnector(
            limit=o.concurrency, limit_per_host=o.concurrency, keepalive_timeout=60
        )
        timeout = aiohttp.ClientTimeout(total=o.timeout)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, skip_auto_headers=["User-Agent"]
        ) as s:
            now = time.perf_counter()
            self.window_start = now + o.warmup
            self.window_end = self.window_start + o.duration
            await asyncio.gather(*(self._worker(s) for _ in range(o.concurrency)))
            finished = time.perf_counter()
        measured = min(finished, self.window_end) - self.window_start
        r = self.r
        return {
            "url": o.url,
            "concurrency": o.concurrency,
            "stream": o.stream,
            "window_s": round(measured, 3),
            "sent": r.sent,
            "ok": r.ok,
            "errors": dict(r.errors),
            "first_error": r.first_error,
            "missing_header": r.missing_header if o.expect_header else None,
            "measured": len(r.latencies),
            "rps": round(r.done_in_window / measured, 1) if measured > 0 else 0.0,
            "latency_ms": summary_ms(r.latencies),
            "ttft_ms": summary_ms(r.ttfts) if o.stream else None,
            "capped": r.sent >= o.max_requests,
        }


def chat_body(model: str, stream: bool, vary: bool = False, prompt: str | None = None) -> bytes:
    text = prompt if prompt is not None else "Say hello to the benchmark."
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": text + (" Request #N#." if vary else "")},
        ],
        "max_tokens": 32,
    }
    if vary:
        body["temperature"] = 0  # cacheable, so the cache stage looks up and stores
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("-c", "--concurrency", type=int, default=1)
    p.add_argument("-d", "--duration", type=float, default=5.0, help="measuring window, seconds")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load first")
    p.add_argument("--max-requests", type=int, default=200_000, help="hard cap on requests sent")
    p.add_argument("--stream", action="store_true")
    p.add_argument("--model", default="bench-model")
    p.add_argument("--key", default="", help="bearer token")
    p.add_argument("--expect-header", default=None, help="count answers missing this header")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    p.add_argument("--vary", action="store_true", help="a unique, cacheable prompt per request")
    p.add_argument("--prompt-file", type=Path, default=None, help="the user message (default: a short one)")
    a = p.parse_args(argv)
    host = a.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if not (host.startswith("127.") or host in ("localhost", "[::1]")):
        p.error("the load generator targets loopback addresses only")
    headers = {"content-type": "application/json"}
    if a.key:
        headers["authorization"] = f"Bearer {a.key}"
    opts = Options(
        url=a.url,
        concurrency=max(1, a.concurrency),
        duration=a.duration,
        warmup=a.warmup,
        max_requests=a.max_requests,
        stream=a.stream,
        body=chat_body(a.model, a.stream, a.vary, a.prompt_file.read_text() if a.prompt_file else None),
        headers=headers,
        expect_header=a.expect_header,
        timeout=a.timeout,
        vary=a.vary,
    )
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        result = runner.run(LoadGen(opts).run())
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
