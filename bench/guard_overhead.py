"""What guardrails cost per request: the same gateway and mock upstream, a ~1,000-token user prompt
(support-ticket prose with an e-mail address and a phone number in it), three configurations:

- no guards, traces keep payloads as sent (``store_payloads: full``): the baseline;
- no guards, the default storage rule (``redacted``: PII and secrets replaced before a trace is kept);
- the default guard policy: PII redacted on the way in (restored in the answer) and out, secrets
  blocked, prompt injection blocked (heuristics + embedding classifier), storage redacted.

    .venv/bin/python bench/guard_overhead.py            # about 1 minute

Concurrency 1, sequential requests: the added p50 is the latency a user sees. The figures go into
bench/RESULTS.md as the "Guardrails overhead" section.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from gateway_overhead import Service, services, wait_http
from pipeline_overhead import KEY, SPINE, bench_parser, measure, prepare, start_mock, write

SECTION = "## Guardrails overhead"

BASE = SPINE  # one model, one key: auth and traces, nothing else
POLICY = """
guard:
  policies:
    default:
      input:
        - {guard: pii, action: redact, restore: true}
        - {guard: secrets, action: block}
        - {guard: injection, action: block}
      output:
        - {guard: pii, action: redact}
      storage: redacted
  default: default
"""
CONFIGS = {
    "no guards, store full": ("full", ""),
    "no guards, store redacted": ("redacted", ""),
    "default policy": ("redacted", POLICY),
}

PARAGRAPHS = [
    "Hello support team, I am writing about the order I placed three weeks ago for the standing desk "
    "and the matching monitor arm. The desk arrived on time but the box was damaged on one corner, and "
    "when I unpacked it I found that two of the leg brackets were bent so the frame does not sit level.",
    "I tried to follow the assembly guide step by step, including the part about tightening the bolts "
    "in a cross pattern, but the left side still wobbles whenever I raise the desk above the middle "
    "height setting. The motor also makes a clicking sound during the last few centimetres of travel.",
    "Before contacting you I checked the troubleshooting page on your website and reset the control "
    "panel by holding the up and down buttons together for ten seconds. The reset worked and the "
    "memory presets were cleared, but the clicking and the wobble are exactly the same as before.",
    "You can reach me at maria.lopez@example.org or on 415-555-0134 during office hours. I would prefer "
    "a replacement for the bent brackets rather than returning the whole desk, because taking it apart "
    "again and repacking it would take most of a day and I no longer have all of the original foam.",
    "If a replacement is not possible, please let me know what the return process looks like, whether "
    "you arrange the pickup or I need to bring it to a depot, and how long the refund usually takes to "
    "appear. I would also like to know if the monitor arm can be kept, since it works perfectly well.",
    "Thank you for your help. I have been a customer for several years and have always been happy with "
    "the quality of your products and the speed of your service, so I hope we can sort this out quickly "
    "and without too much back and forth. I have attached photos of the brackets and the damaged box.",
]


def prompt_text(target_tokens: int = 1000) -> str:
    """Support prose of about ``target_tokens`` tokens (4 characters a token, as English averages)."""
    out: list[str] = []
    while sum(len(p) + 2 for p in out) < target_tokens * 4:
        out.append(PARAGRAPHS[len(out) % len(PARAGRAPHS)])
    return "\n\n".join(out)


def config(workdir: Path, name: str, storage: str, body: str, port: int, mock_port: int) -> Path:
    slug = name.replace(" ", "-").replace(",", "")
    path = workdir / f"guard-{slug}.yaml"
    path.write_text(
        f"""server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{workdir}/guard-{slug}.db", store_payloads: {storage}}}
providers:
  mock: {{type: openai, base_url: "http://127.0.0.1:{mock_port}/v1", api_key: "x"}}
"""
        + BASE.format(key=KEY)
        + body
    )
    return path


def section(results: dict[str, dict[int, dict[str, float]]], args: argparse.Namespace, tokens: int) -> str:
    base = results["no guards, store full"][1]
    lines = [
        SECTION,
        "",
        f"Written by `bench/guard_overhead.py` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: "
        f"concurrency 1, non-streaming, {args.repeats} runs of {args.duration:g} s (medians), a "
        f"~{tokens}-token user prompt (support prose with an e-mail address and a phone number), "
        "a unique prompt per request, mock upstream.",
        "",
        "| configuration | req/s | p50 ms | p99 ms | added p50 ms | CPU/req µs |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in CONFIGS:
        row = results[name][1]
        added = f"{row['p50'] - base['p50']:+.2f}" if name != "no guards, store full" else "-"
        lines.append(
            f"| {name} | {row['rps']:,.0f} | {row['p50']:.2f} | {row['p99']:.2f} | {added} | "
            f"{row['cpu_us']:,.0f} |"
        )
    policy = results["default policy"][1]
    lines += [
        "",
        f"The default policy adds {policy['p50'] - base['p50']:+.2f} ms at p50 per request on this prompt "
        f"({policy['cpu_us'] - base['cpu_us']:+,.0f} µs of CPU).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = bench_parser(__doc__)
    p.add_argument("--tokens", type=int, default=1000)
    args = p.parse_args(argv)
    args.concurrency = [1]
    pin = prepare(args, "guard")
    prompt = args.workdir / "guard-prompt.txt"
    prompt.write_text(prompt_text(args.tokens))
    mock_port, port = 18911, 18798
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    results: dict[str, dict[int, dict[str, float]]] = {}
    with services() as running:
        start_mock(running, pin, args.workdir, mock_port, "guard")
        for name, (storage, body) in CONFIGS.items():
            cfg = config(args.workdir, name, storage, body, port, mock_port)
            gateway = Service(
                name,
                [*pin.prefix("server"), args.pilothouse, "serve", "--config", str(cfg)],
                args.workdir / f"guard-{name.replace(' ', '-')}.log",
            )
            running.append(gateway)
            wait_http(f"http://127.0.0.1:{port}/healthz", gateway, 60)
            results[name] = measure(
                name, url, "bench-model", gateway, args, pin, extra=["--prompt-file", str(prompt)]
            )
            gateway.stop()
            running.remove(gateway)
    text = section(results, args, args.tokens)
    print(text)
    if str(args.results) != "-":
        write(args.results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
