"""``pilothouse demo``: the gateway on embedded defaults, a demo key, sample traffic, next steps."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import orjson
import typer

from pilothouse.bootstrap import Runtime
from pilothouse.cli.common import console
from pilothouse.cli.demo_evals import run_demo_evals
from pilothouse.cli.demo_guard import GUARDED_ROUTE, send_guard_samples, with_demo_guard
from pilothouse.cli.serve import build_server
from pilothouse.core.config import default_config

SAMPLES = [
    "In one sentence, what is an API gateway?",
    "Give me three tips for writing clear error messages.",
    "What is the capital of France?",
]


async def _send_samples(base: str, key: str) -> list[tuple[str, str, str]]:
    """A few real requests through the gateway so the trace list is not empty."""
    headers = {"authorization": f"Bearer {key}"}
    done: list[tuple[str, str, str]] = []
    async with aiohttp.ClientSession(headers=headers) as http:
        for prompt in SAMPLES:
            body = {
                "model": "smollm2",
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 48,
                "temperature": 0,
            }
            async with http.post(f"{base}/v1/chat/completions", json=body) as r:
                data: Any = await r.json()
                answer = data["choices"][0]["message"]["content"] if r.status == 200 else str(data)
                done.append(
                    (prompt, answer.strip().replace("\n", " ")[:100], r.headers["x-pilothouse-trace-id"])
                )
        stream_body = {
            "model": "smollm2",
            "messages": [{"role": "user", "content": "Say hello to the Pilothouse demo."}],
            "max_tokens": 32,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        async with http.post(f"{base}/v1/chat/completions", json=stream_body) as r:
            pieces: list[str] = []
            async for line in r.content:
                if line.startswith(b"data: {"):
                    chunk = orjson.loads(line[6:])
                    pieces += [c["delta"].get("content") or "" for c in chunk.get("choices", [])]
            streamed = "".join(pieces).strip().replace("\n", " ")[:100]
            trace_id = r.headers["x-pilothouse-trace-id"]
            done.append(("(streamed) Say hello to the Pilothouse demo.", streamed, trace_id))
        emb = {"model": "local-embed", "input": ["gateways route requests", "traces explain requests"]}
        async with http.post(f"{base}/v1/embeddings", json=emb) as r:
            await r.read()
            done.append(("(embeddings) 2 inputs", f"HTTP {r.status}", r.headers["x-pilothouse-trace-id"]))
    return done


def _print_next_steps(base: str, key: str, admin: str, samples: list[tuple[str, str, str]]) -> None:
    console.rule("[bold]Pilothouse demo")
    for prompt, answer, trace_id in samples:
        console.print(f"[dim]{trace_id}[/]  {prompt}\n    -> {answer}", highlight=False)
    console.print(
        f"""
[bold]Gateway[/]      {base}/v1        (OpenAI-compatible)
[bold]Models[/]       {base}/v1/models
[bold]Admin API[/]    {base}/api/traces   (admin key below)

[bold]Demo key[/] (shown once):   {key}
[bold]Admin key[/] (shown once):  {admin}

Try it with the openai client:

    from openai import OpenAI
    client = OpenAI(base_url="{base}/v1", api_key="{key}")
    r = client.chat.completions.create(model="smollm2", messages=[{{"role": "user", "content": "Hi!"}}])
    print(r.choices[0].message.content)

The route "{GUARDED_ROUTE}" runs guardrails: PII is replaced by placeholders before the model sees
it (and put back in the answer), prompt injection gets HTTP 400, traces keep redacted copies.
Check text yourself:

    .venv/bin/pilothouse guard check "mail me at jo@example.com, key sk-proj-abc123def456ghi789jkl012"

And the CLI (same storage, .pilothouse/pilothouse.db):

    .venv/bin/pilothouse traces list
    .venv/bin/pilothouse traces show {samples[0][2]}
    .venv/bin/pilothouse keys list
    .venv/bin/pilothouse models
""",
        highlight=False,
    )


def demo(
    port: Annotated[int, typer.Option(help="gateway port")] = 8787,
    once: Annotated[
        bool, typer.Option(help="send the samples, print, then stop (for scripts and tests)")
    ] = False,
    evals: Annotated[
        bool,
        typer.Option(
            "--evals/--no-evals",
            help="also compare two versions of a support prompt on the demo eval suite"
            " (a few minutes the first time, from cache after)",
        ),
    ] = True,
) -> None:
    """Start the gateway with the local model, create a demo key, send sample traffic, keep serving."""
    config = with_demo_guard(default_config())
    config = config.model_copy(update={"server": config.server.model_copy(update={"port": port})})
    server, runtime = build_server(config)
    base = f"http://{config.server.host}:{port}"

    async def main() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                await serving  # start-up failed: surface the error
                raise typer.Exit(1)
            await asyncio.sleep(0.05)
        key, admin = await _demo_keys(runtime)
        console.print("Loading the local model and sending sample requests...")
        samples = await _send_samples(base, key) + await send_guard_samples(base, key)
        _print_next_steps(base, key, admin, samples)
        if evals:
            await run_demo_evals(runtime, base, key, Path(".pilothouse") / "reports")
        if once:
            server.should_exit = True
        else:
            console.print("[bold green]Serving.[/] Press Ctrl-C to stop.")
        await serving

    asyncio.run(main())


async def _demo_keys(runtime: Runtime) -> tuple[str, str]:
    key, _ = await runtime.keys.create("demo", team="demo")
    admin, _ = await runtime.keys.create("demo-admin", team="demo", scopes=["admin"])
    return key, admin
