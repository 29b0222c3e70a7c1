"""Scorers that call models through the gateway: embedding similarity and the LLM judge."""

from __future__ import annotations

import asyncio
import math
from typing import Literal

from pydantic import Field

from pilothouse.evals.scorers.judge_parse import JudgeVerdict, parse_judge_answer
from pilothouse.evals.scorers.registry import ScoreFn, scorer
from pilothouse.evals.scorers.text import Options, _strings
from pilothouse.evals.types import Score, ScoreContext, verdict


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class EmbeddingOptions(Options):
    model: str = Field("local-embed", description="an embedding model served by the gateway")
    pass_threshold: float = Field(0.8, ge=0, le=1)


@scorer("embedding_similarity", options=EmbeddingOptions)
def embedding_similarity(opts: EmbeddingOptions) -> ScoreFn:
    """Cosine similarity of the output and the expected answer (negative similarity counts as 0)."""

    async def score(ctx: ScoreContext) -> Score:
        references = _strings(ctx.case.expected)
        if not references:
            return verdict(False, "the case has no expected output")
        vectors = await ctx.require_models().embed(opts.model, [ctx.output.text, *references])
        best = max(cosine(vectors[0], v) for v in vectors[1:])
        value = min(1.0, max(0.0, best))
        return Score(
            value, value >= opts.pass_threshold, f"cosine {best:.3f} (pass at {opts.pass_threshold})"
        )

    return score


JUDGE_SYSTEM = {
    "score": (
        "You are a strict, consistent evaluator. Grade the ASSISTANT ANSWER against the RUBRIC on a"
        " scale of 1 (fails the rubric) to 5 (fully meets it). Reply with one JSON object and nothing"
        ' else: {"score": <integer 1-5>, "reason": "<one or two sentences>"}'
    ),
    "pass_fail": (
        "You are a strict, consistent evaluator. Decide whether the ASSISTANT ANSWER meets the RUBRIC."
        ' Reply with one JSON object and nothing else: {"verdict": "pass" or "fail", "reason":'
        ' "<one or two sentences>"}'
    ),
}


class JudgeOptions(Options):
    model: str = Field(description="the judge: a model or route served by the gateway")
    rubric: str = Field(min_length=1)
    mode: Literal["score", "pass_fail"] = "score"
    pass_score: int = Field(4, ge=1, le=5, description="score mode: a case passes at this score or above")
    judge_repeat: int = Field(1, ge=1, le=20, description="ask the judge this many times (its own noise)")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(300, ge=16)
    show_expected: bool = True
    show_context: bool = True


def judge_messages(opts: JudgeOptions, ctx: ScoreContext) -> list[dict[str, str]]:
    parts = [f"RUBRIC:\n{opts.rubric}", f"INPUT:\n{ctx.case.input_text}"]
    if opts.show_context and ctx.case.context:
        passages = _strings(ctx.case.context)
        parts.append("CONTEXT:\n" + "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, start=1)))
    if opts.show_expected and ctx.case.expected is not None:
        parts.append(f"REFERENCE ANSWER:\n{', '.join(_strings(ctx.case.expected))}")
    parts.append(f"ASSISTANT ANSWER:\n{ctx.output.text}")
    return [
        {"role": "system", "content": JUDGE_SYSTEM[opts.mode]},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def combine(opts: JudgeOptions, samples: list[JudgeVerdict | None], raw: list[str]) -> Score:
    """Mean of the parsed samples; pass by mean score (score mode) or by majority (pass/fail)."""
    parsed = [s for s in samples if s is not None]
    details = {
        "samples": [s.value for s in parsed],
        "verdicts": [s.passed for s in parsed],
        "unparsed": len(samples) - len(parsed),
        "answer": raw[0][:500] if raw else "",
    }
    if not parsed:
        return Score(0.0, False, f"the judge's answer could not be parsed: {raw[0][:120]!r}", details)
    value = sum(s.value for s in parsed) / len(parsed)
    if opts.mode == "score":
        passed = value >= (opts.pass_score - 1) / 4
    else:
        passed = sum(1 for s in parsed if s.passed) * 2 > len(parsed)
    if len(parsed) > 1:
        spread = math.sqrt(sum((s.value - value) ** 2 for s in parsed) / (len(parsed) - 1))
        details["judge_sd"] = spread
    return Score(value, passed, parsed[0].reason or "", details)


@scorer("judge", options=JudgeOptions)
def judge(opts: JudgeOptions) -> ScoreFn:
    """An LLM judge with a rubric: 1-5 normalised to [0, 1] (or pass/fail = 1/0), with its reasons."""

    async def ask(ctx: ScoreContext, i: int) -> tuple[JudgeVerdict | None, str]:
        body = {
            "model": opts.model,
            "messages": judge_messages(opts, ctx),
            "temperature": opts.temperature,
            "max_tokens": opts.max_tokens,
            "seed": i,  # repeats are distinct requests, so no cache layer folds them into one
        }
        reply = await ctx.require_models().chat(body)
        if not reply.ok:
            raise RuntimeError(f"judge request failed: {reply.error or reply.status}")
        return parse_judge_answer(reply.text, opts.mode), reply.text

    async def score(ctx: ScoreContext) -> Score:
        answers = await asyncio.gather(*(ask(ctx, i) for i in range(opts.judge_repeat)))
        return combine(opts, [a for a, _ in answers], [t for _, t in answers])

    return score
