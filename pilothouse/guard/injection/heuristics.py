"""Layered heuristics for prompt injection and jailbreaks: the rules of ``rules`` run over a folded
reading of the text (see ``normalize``) and over any text hidden inside it.

Signal families: ``override`` (ignore previous instructions, new instructions, you are now),
``exfiltration`` (reveal your system prompt, repeat the text above), ``roleplay`` (DAN, developer
mode, pretend you have no restrictions), ``delimiter`` (fake chat-template tokens, role headers,
end-of-input markers, fake dialogue turns), ``indirect`` (text addressing an AI that reads the
document), ``encoding`` (an instruction hidden in base64, hex, ROT13...) and ``obfuscation``
(homoglyphs, invisible characters).

Precision first: phrases that ordinary users type ("ignore case in a regex", "reset my password",
"what is a system prompt") must not reach a score of 0.5 on their own. Weights combine as a noisy
OR, so one strong signal or several moderate ones flag a text, and a mention inside a question
about the phrase itself ("how do attackers use 'ignore previous instructions'?") is damped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pilothouse.guard.injection.normalize import (
    Folded,
    fold,
    hidden_segments,
    invisible_count,
    mixed_script_words,
)
from pilothouse.guard.injection.rules import FAMILIES, LED, RULES, Rule

__all__ = ["FAMILIES", "HeuristicResult", "Signal", "analyse", "combine", "family_scores"]

_META = re.compile(
    r"\b(?:what (?:is|are|does|do)|what's|how (?:do|does|can|could|should|would|to)|why (?:do|does|would|"
    r"did|is|are)|explain\w*|definition|examples?|e\.g\.|such as|detect\w*|prevent\w*|defend\w*|mitigat\w*|"
    r"protect\w*|attack\w*|vulnerab\w*|known as|so-called|called|phrase|term|keyword|mean|means|meaning|"
    r"research\w*|paper|article|blog|lecture|course|stud(?:y|ies)|classif\w*|filter\w*|guardrail\w*|"
    r"red[- ]team\w*|security|handle|handling|jailbreak prompts?|prompt injection|"
    r"write|draft|compose|design|create)\b"
)
_SENTENCE_END = re.compile(r"[.!?\n]")


@dataclass(frozen=True, slots=True)
class Signal:
    """One rule that fired: its weight after damping and the original span it covers."""

    name: str
    weight: float
    start: int
    end: int
    via: str = ""  # how the text was hidden ("base64", "rot13"...), empty when read directly

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class HeuristicResult:
    score: float
    signals: tuple[Signal, ...]
    folded: Folded

    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.name for s in sorted(self.signals, key=lambda s: -s.weight)))

    def strongest(self) -> Signal | None:
        return max(self.signals, key=lambda s: (s.weight, s.end - s.start), default=None)


def _meta_context(text: str, start: int) -> bool:
    # Only what comes before counts: an attack may well go on with "and explain how to...".
    window = text[max(0, start - 160) : start]
    cut = max((m.end() for m in _SENTENCE_END.finditer(window)), default=0)
    return _META.search(window[cut:]) is not None


_FULL_SCAN = 1500  # texts up to this long are scanned whole; longer ones around each rule's anchors
_BEFORE, _AFTER = 300, 400


def _regions(text: str, rule: Rule) -> list[tuple[int, int]]:
    """Where ``rule`` can match: windows around its anchors, merged; regex cost stays proportional
    to the suspicious parts of a long document instead of its length."""
    size = len(text)
    if size <= _FULL_SCAN:
        return [(0, size)]
    spans: list[tuple[int, int]] = []
    for anchor in rule.anchors:
        index = text.find(anchor)
        while index != -1:
            spans.append((max(0, index - _BEFORE), min(size, index + _AFTER)))
            index = text.find(anchor, index + _AFTER // 2)  # later hits within reach share this window
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _scan(text: str, *, min_weight: float = 0.0) -> list[tuple[Rule, int, int, float]]:
    hits: list[tuple[Rule, int, int, float]] = []
    known: dict[str, bool] = {}  # each substring test at most once, and only until a rule's first hit

    def present(anchor: str) -> bool:
        found = known.get(anchor)
        if found is None:
            found = known[anchor] = anchor in text
        return found

    for rule in RULES:
        if rule.weight < min_weight or not any(present(a) for a in rule.anchors):
            continue
        best: tuple[int, int, float] | None = None
        for lo, hi in _regions(text, rule):
            # finditer with pos/endpos: lookbehinds and ^ still see the real text around the window.
            for m in rule.pattern.finditer(text, lo, hi):
                start, end = m.span()
                weight = rule.weight
                if rule.unled is not None and not LED.search(text, max(0, start - 48), start):
                    weight = rule.unled
                    if not weight:
                        continue
                if rule.dampen and _meta_context(text, start):
                    weight *= 0.4
                if best is None or weight > best[2]:
                    best = (start, end, weight)
                if weight == rule.weight:
                    break  # the first undamped match is as strong as this rule gets
            if best is not None and best[2] == rule.weight:
                break
        if best is not None:
            hits.append((rule, *best))
    fired = {rule.name for rule, *_ in hits}
    return [hit for hit in hits if hit[0].shadowed_by not in fired]


def noisy_or(weights: list[float]) -> float:
    miss = 1.0
    for w in weights:
        miss *= 1.0 - w
    return 1.0 - miss


def combine(signals: tuple[Signal, ...] | list[Signal]) -> float:
    """Noisy OR within each rule (strongest hit), then across rules."""
    best: dict[str, float] = {}
    for s in signals:
        best[s.name] = max(best.get(s.name, 0.0), s.weight)
    return noisy_or(list(best.values()))


def family_scores(signals: tuple[Signal, ...] | list[Signal]) -> list[float]:
    """One score per family in ``FAMILIES`` order: the classifier's view of the heuristics."""
    per: dict[str, dict[str, float]] = {f: {} for f in FAMILIES}
    for s in signals:
        rules = per[s.family]
        rules[s.name] = max(rules.get(s.name, 0.0), s.weight)
    return [noisy_or(list(per[f].values())) for f in FAMILIES]


def analyse(text: str, folded: Folded | None = None) -> HeuristicResult:
    folded = folded or fold(text)
    signals: list[Signal] = []
    for rule, start, end, weight in _scan(folded.text):
        signals.append(Signal(rule.name, weight, *folded.span(start, end)))
    for segment in hidden_segments(text, folded):
        # ROT13 and reversed readings of ordinary text are noise: only strong rules count there.
        whole = segment.how in ("rot13", "reversed")
        inner = _scan(segment.text, min_weight=0.5 if whole else 0.0)
        if not inner:
            continue
        for rule, start, end, weight in inner:
            if segment.how == "rot13":
                span = folded.span(start, end)
            elif segment.how == "reversed":
                n = len(segment.text)
                span = folded.span(n - end, n - start)
            else:
                span = (segment.start, segment.end)
            signals.append(Signal(rule.name, weight, *span, via=segment.how))
        strongest = max(weight for _, _, _, weight in inner)
        if strongest >= 0.3:
            signals.append(
                Signal(f"encoding.{segment.how}", 0.3, segment.start, segment.end, via=segment.how)
            )
    homoglyphs = mixed_script_words(text)
    if homoglyphs:
        signals.append(Signal("obfuscation.homoglyph", min(0.3, 0.1 * homoglyphs), 0, len(text)))
    invisible = invisible_count(text)
    if invisible >= 3:
        signals.append(Signal("obfuscation.invisible", min(0.3, 0.05 * invisible), 0, len(text)))
    return HeuristicResult(combine(signals), tuple(signals), folded)
