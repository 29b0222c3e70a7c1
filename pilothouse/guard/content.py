"""Content policy: blocklist phrases, regexes, denied topics, a length cap and a language allow-list.

Phrases match on a *folded* view of the text: NFKC, casefold, invisible characters dropped, so
fullwidth or mathematical-bold letters, a zero-width space inside a word and any letter case all
read as plain lower-case. A Cyrillic or Greek look-alike (``b\u043emb``, a Cyrillic o) matches a
Latin phrase when the matched text has a real Latin letter too, or when the text around it is
Latin, so a Russian word made of look-alikes in Russian text is not read as English. Spans are
mapped back to the original text. Regexes run on the original text as written
(add ``(?i)`` for case-insensitivity), because a pattern such as ``[A-Z]{3}-\\d+`` must see the real
case.

Everything is compiled in :meth:`ContentPolicy.from_config`; :meth:`ContentPolicy.check` costs a
few regex scans (0.15-0.5 ms on 4,000 characters, language detection included).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Self

from pilothouse.core.guarding import ContentGuardConfig
from pilothouse.guard.language import WORD, detect_language
from pilothouse.guard.types import Finding

# --- folding ----------------------------------------------------------------------------------------

# Characters that render as nothing (Unicode Cf, variation selectors, the combining grapheme joiner,
# Hangul fillers): put between letters they defeat naive matching.
_INVISIBLE_BMP = (
    "\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
)
_INVISIBLE_ASTRAL = (
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef"
)
_INVISIBLE = re.compile(f"[{_INVISIBLE_BMP}{_INVISIBLE_ASTRAL}]")
# Code points scanned for characters that folding changes; the blocks left out (CJK ideographs,
# Hangul syllables, surrogates, private use) fold to themselves, which a test checks.
_SCAN = ((0x80, 0x3400), (0x4DC0, 0x4E00), (0xA000, 0xAC00), (0xD7A4, 0xD800), (0xF900, 0x20000))
_SCAN_ASTRAL_EXTRA = ((0x2F800, 0x2FA20),)


def _char_class(points: list[int]) -> str:
    parts: list[str] = []
    start = prev = -2
    for cp in [*points, -2]:
        if cp == prev + 1:
            prev = cp
            continue
        if start >= 0:
            parts.append(re.escape(chr(start)) + ("" if prev == start else "-" + re.escape(chr(prev))))
        start = prev = cp
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class _Tables:
    trouble_bmp: re.Pattern[str]  # one scan decides the fast path for most non-ASCII text
    trouble: re.Pattern[str]  # the same with astral characters, for texts that have any
    one_to_one: dict[int, str]  # characters NFKC maps to one other letter (fullwidth, math bold)
    run_bmp: re.Pattern[str]  # the rest (expansions, invisibles) and the combining marks after them
    run: re.Pattern[str]


@functools.cache
def _tables() -> _Tables:
    """Characters the fold changes other than by a one-to-one casefold, and combining marks. Built
    once, on first use (about 40 ms), from this Python's Unicode data."""
    trouble: list[int] = []
    one_to_one: dict[int, str] = {}
    combining: list[int] = []
    for a, b in (*_SCAN, *_SCAN_ASTRAL_EXTRA):
        for cp in range(a, b):
            ch = chr(cp)
            folded = ch.casefold()
            nfkc = unicodedata.normalize("NFKC", ch)
            is_mark = bool(unicodedata.combining(ch)) or 0x1160 <= cp <= 0x11FF  # Hangul vowel/final jamo
            if is_mark:
                combining.append(cp)
            if len(folded) == 1 and nfkc.casefold() == folded:
                continue
            if not ch.isalnum() and not any(x.isalnum() for x in nfkc):
                # Punctuation and spaces (fullwidth commas, NBSP, the ellipsis) never make or break a
                # word; leaving them keeps CJK and French text on the fast path.
                continue
            trouble.append(cp)
            if (
                len(nfkc) == 1
                and len(nfkc.casefold()) == 1
                and not is_mark
                and not unicodedata.combining(nfkc)
            ):
                one_to_one[cp] = nfkc
    rest = [cp for cp in trouble if cp not in one_to_one]
    marks = _char_class(combining)
    rest_bmp = _char_class([cp for cp in rest if cp < 0x10000]) + _INVISIBLE_BMP
    rest_every = _char_class(rest) + _INVISIBLE_BMP + _INVISIBLE_ASTRAL
    # Astral members make the regex engine test ranges one by one: keep a BMP-only variant.
    return _Tables(
        trouble_bmp=re.compile(f"[{_char_class([cp for cp in trouble if cp < 0x10000])}{_INVISIBLE_BMP}]"),
        trouble=re.compile(f"[{_char_class(trouble)}{_INVISIBLE_BMP}{_INVISIBLE_ASTRAL}]"),
        one_to_one=one_to_one,
        run_bmp=re.compile(f"(?:[{rest_bmp}][{marks}]*)+"),
        run=re.compile(f"(?:[{rest_every}][{marks}]*)+"),
    )


def _has_astral(text: str) -> bool:
    # Cheaper than a regex scan: astral characters take two UTF-16 units.
    return len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


@dataclass(frozen=True, slots=True)
class Folded:
    """The folded text; ``starts[i]``/``ends[i]`` give the original span of folded char ``i``
    (``None``: the two are aligned one to one)."""

    text: str
    starts: list[int] | None = None
    ends: list[int] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        if self.starts is None or self.ends is None or start >= end:
            return start, end
        return self.starts[start], self.ends[end - 1]


class _Builder:
    __slots__ = ("ends", "out", "starts")

    def __init__(self) -> None:
        self.out: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []

    def aligned(self, text: str, a: int, b: int) -> None:
        """``text[a:b]`` holds no trouble character: fold it whole, one char to one."""
        if a >= b:
            return
        segment = text[a:b]
        if not unicodedata.is_normalized("NFC", segment):
            self.clusters(text, a, b)  # decomposed accents ("e" + U+0301) must compose first
            return
        self.out.append(segment.casefold())
        self.starts.extend(range(a, b))
        self.ends.extend(range(a + 1, b + 1))

    def clusters(self, text: str, a: int, b: int) -> None:
        """Fold cluster by cluster (a starter and its combining marks): each output character
        maps to the cluster that produced it."""
        i = a
        while i < b:
            j = i + 1
            while j < b and (unicodedata.combining(text[j]) or 0x1160 <= ord(text[j]) <= 0x11FF):
                j += 1
            piece = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text[i:j]).casefold())
            self.out.append(piece)
            self.starts.extend([i] * len(piece))
            self.ends.extend([j] * len(piece))
            i = j


def fold(text: str) -> Folded:
    """The matching view of ``text`` (see the module docstring). ASCII costs one ``lower()``, other
    text a few C-level passes; only expanding or invisible characters cost a step each."""
    if text.isascii():
        return Folded(text.lower())  # casefold is lower on ASCII
    tables = _tables()
    astral = _has_astral(text)
    trouble = tables.trouble if astral else tables.trouble_bmp
    if trouble.search(text) is None and unicodedata.is_normalized("NFC", text):
        return Folded(text.casefold())  # every character folds to exactly one: still aligned
    text = text.translate(tables.one_to_one)  # one for one: positions unchanged
    runs = list((tables.run if astral else tables.run_bmp).finditer(text))
    if not runs and unicodedata.is_normalized("NFC", text):
        return Folded(text.casefold())
    builder = _Builder()
    pos = 0
    for match in runs:
        a, b = match.span()
        a = max(pos, a - 1)  # the character before may compose with the run (U+0301 after "e")
        builder.aligned(text, pos, a)
        builder.clusters(text, a, b)
        pos = b
    builder.aligned(text, pos, len(text))
    return Folded("".join(builder.out), builder.starts, builder.ends)


# --- phrase matching -------------------------------------------------------------------------------

# Cyrillic and Greek letters that look like a lower-case Latin one.
_LOOKALIKES = {
    "a": "\u0430\u03b1",
    "c": "\u0441",
    "d": "\u0501",
    "e": "\u0435",
    "i": "\u0456\u03b9",
    "j": "\u0458",
    "k": "\u043a\u03ba",
    "l": "\u04cf",
    "o": "\u043e\u03bf",
    "p": "\u0440\u03c1",
    "q": "\u051b",
    "s": "\u0455",
    "u": "\u03c5",
    "v": "\u03bd",
    "w": "\u051d",
    "x": "\u0445\u03c7",
    "y": "\u0443",
}
_TO_LATIN = str.maketrans({look: latin for latin, looks in _LOOKALIKES.items() for look in looks})
_ASCII_LETTER = re.compile("[a-z]")
_CONTEXT = 40  # characters each side that tell a spoofed word from one in another script
_END = ""  # trie marker: a phrase ends here
_Trie = dict[str, "_Trie"]


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _piece(ch: str) -> str:
    if ch == " ":
        return r"\s+"
    looks = _LOOKALIKES.get(ch)
    return f"[{ch}{looks}]" if looks else re.escape(ch)


def phrase_pattern(phrases: list[str]) -> re.Pattern[str]:
    """One regex for any of the (folded) phrases on word boundaries, a space matching any run of
    whitespace and a Latin letter its look-alikes too. Built as a character trie: one pass over
    the text whatever the number of phrases, and the longest phrase wins at a position."""
    root: _Trie = {}
    for phrase in phrases:
        node = root
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[_END] = {}

    def build(node: _Trie, prev: str) -> str:
        alts = [_piece(ch) + build(child, ch) for ch, child in sorted(node.items()) if ch != _END]
        if _END in node:
            alts.append(r"(?!\w)" if _is_word(prev) else "")  # after the longer ones: longest first
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    # A leading (?<!\w) makes the regex engine try every position. Checking the boundary after a
    # literal first character instead keeps its fast scan for first characters (one branch per
    # look-alike: a character class there would defeat it), which pays while they are few.
    if len(root) <= 10:
        body = "|".join(
            re.escape(v) + (rf"(?<!\w{re.escape(v)})" if _is_word(v) else "") + rest
            for ch, rest in ((ch, build(child, ch)) for ch, child in sorted(root.items()))
            for v in ch + _LOOKALIKES.get(ch, "")
        )
    else:
        words = {ch: child for ch, child in root.items() if _is_word(ch)}
        others = {ch: child for ch, child in root.items() if not _is_word(ch)}
        parts = [rf"(?<!\w){build(words, '')}"] if words else []
        parts += [build(others, "")] if others else []
        body = "|".join(parts)
    return re.compile(body)


def _phrase_key(phrase: str) -> str:
    return " ".join(fold(phrase).text.split())


def _phrases_inside(phrase: str, phrases: frozenset[str]) -> set[str]:
    """The other phrases that occur in ``phrase`` on word boundaries (set lookups of its substrings
    between boundaries: quadratic in one phrase's length, linear in the number of phrases)."""
    n = len(phrase)
    cuts = [i for i in range(n + 1) if i in (0, n) or not (_is_word(phrase[i - 1]) and _is_word(phrase[i]))]
    found: set[str] = set()
    for x, a in enumerate(cuts):
        for b in cuts[x + 1 :]:
            if (a, b) != (0, n) and (piece := phrase[a:b]) in phrases and piece == piece.strip():
                found.add(piece)
    return found


class _PhraseSet:
    """Compiled phrases; :meth:`find` lists ``(phrase, start, end)`` in the folded text."""

    def __init__(self, phrases: list[str]) -> None:
        self.phrases = frozenset(phrases)
        self.pattern = phrase_pattern(sorted(self.phrases))
        # The scan reports the longest phrase at a position; the ones inside it ("bomb" in "pipe
        # bomb") are looked for within that match, with a pattern compiled when first needed.
        self.inside = {
            p: sorted(inside) for p in self.phrases if (inside := _phrases_inside(p, self.phrases))
        }
        self._inner: dict[str, re.Pattern[str]] = {}

    def _key(self, folded: str, start: int, end: int) -> str | None:
        key = " ".join(folded[start:end].split())
        if key in self.phrases:
            return key
        latin = key.translate(_TO_LATIN)
        if latin not in self.phrases:
            return None
        # Matched through look-alikes. With a real Latin letter in it, it is a spoof; made of
        # look-alikes only, it is one when Latin text surrounds it ("send the \u0441\u043e\u0440 now"),
        # and a Russian or Greek word when that script does ("\u0441\u043e\u0440 \u043d\u0430 ...").
        if _ASCII_LETTER.search(key) is None:
            around = folded[max(0, start - _CONTEXT) : start] + folded[end : end + _CONTEXT]
            latin_letters = len(_ASCII_LETTER.findall(around))
            if latin_letters <= sum(len(w) for w in WORD.findall(around)) - latin_letters:
                return None
        return latin

    def find(self, folded: str) -> list[tuple[str, int, int]]:
        out: list[tuple[str, int, int]] = []
        for m in self.pattern.finditer(folded):
            key = self._key(folded, m.start(), m.end())
            if key is None:
                continue
            out.append((key, m.start(), m.end()))
            inside = self.inside.get(key)
            if inside is not None:
                inner = self._inner.get(key)
                if inner is None:
                    inner = self._inner[key] = phrase_pattern(inside)
                for n in inner.finditer(folded, m.start(), m.end()):
                    nested = self._key(folded, n.start(), n.end())
                    if nested is not None:
                        out.append((nested, n.start(), n.end()))
        return out


# --- the policy ------------------------------------------------------------------------------------


def _topic_weight(signal: str) -> float:
    # A multi-word phrase is specific ("pipe bomb"); a single word is ambiguous ("bomb").
    return 0.85 if " " in signal else 0.6


def _keys(phrases: list[str], what: str) -> list[str]:
    keys: list[str] = []
    for i, phrase in enumerate(phrases):
        key = _phrase_key(phrase)
        if not key:
            raise ValueError(f"{what} [{i}] {phrase!r} is empty once normalised")
        keys.append(key)
    return keys


_LANGUAGE_ALIASES = {"nb": "no", "nn": "no"}  # the detector names Norwegian "no"


def _language_code(code: str) -> str:
    lowered = code.strip().lower()
    if not re.fullmatch(r"[a-z]{2}", lowered):
        raise ValueError(f"languages: {code!r} is not an ISO 639-1 code (two letters, such as 'en')")
    return _LANGUAGE_ALIASES.get(lowered, lowered)


class ContentPolicy:
    """A compiled :class:`ContentGuardConfig`: build it with :meth:`from_config`, then :meth:`check`.

    Findings (kind ``content``):

    - ``BLOCKLIST``, detector ``phrase``: a blocklist phrase, on word boundaries in the folded text;
    - ``BLOCKLIST``, detector ``regex:<i>``: ``regexes[i]`` matched (empty matches are ignored);
    - ``TOPIC:<name>``, detector ``phrase``: each occurrence of one of the topic's signal phrases, all
      with the topic's score ``1 - prod(1 - w)`` over the *distinct* signals seen in the text, ``w``
      0.85 for a multi-word phrase and 0.6 for a single word: one phrase gives 0.85, one word 0.6,
      two words 0.84, three 0.94;
    - ``MAX_LENGTH``, detector ``max_chars``: the part past ``max_chars``;
    - ``LANGUAGE``, detector ``language:<code>``: the whole text, when :func:`detect_language` is sure
      of a language outside the allow-list (it abstains on short, mixed or non-prose text).
    """

    def __init__(
        self,
        *,
        blocklist: list[str],
        regexes: list[re.Pattern[str]],
        topics: dict[str, list[str]],
        max_chars: int | None,
        languages: frozenset[str] | None,
    ) -> None:
        self._blocked = frozenset(blocklist)
        self._topics = topics  # folded signal -> the topics it signals
        # Blocklist phrases and topic signals share one scan of the text.
        phrases = self._blocked | topics.keys()
        self._phrases = _PhraseSet(sorted(phrases)) if phrases else None
        if phrases:
            _tables()  # built now, not on the first request with non-ASCII text
        self._regexes = regexes
        self._max_chars = max_chars
        self._languages = languages

    @classmethod
    def from_config(cls, cfg: ContentGuardConfig) -> Self:
        """Compile the config. ``ValueError`` names the bad entry (an invalid regex, an empty phrase,
        a language that is not an ISO 639-1 code); the caller maps it to a config error."""
        regexes: list[re.Pattern[str]] = []
        for i, source in enumerate(cfg.regexes):
            try:
                regexes.append(re.compile(source))
            except re.error as exc:
                raise ValueError(
                    f"regexes[{i}] {source!r} is not a valid regular expression: {exc}"
                ) from None
        topics: dict[str, list[str]] = {}
        for name, signals in cfg.denied_topics.items():
            for key in _keys(signals, f"denied_topics.{name}"):
                names = topics.setdefault(key, [])
                if name not in names:
                    names.append(name)
        languages = None
        if cfg.languages is not None:
            languages = frozenset(_language_code(code) for code in cfg.languages)
        return cls(
            blocklist=_keys(cfg.blocklist, "blocklist"),
            regexes=regexes,
            topics=topics,
            max_chars=cfg.max_chars,
            languages=languages,
        )

    def check(self, text: str) -> list[Finding]:
        """Every finding, sorted by start. Spans may overlap: a redacting stage passes them through
        :func:`~pilothouse.guard.types.non_overlapping`."""
        findings: list[Finding] = []
        if self._phrases is not None:
            findings.extend(self._phrase_findings(fold(text), self._phrases))
        for i, pattern in enumerate(self._regexes):
            for m in pattern.finditer(text):
                if m.end() > m.start():  # a pattern that can match nothing must not flag everything
                    findings.append(Finding("content", "BLOCKLIST", m.start(), m.end(), 1.0, f"regex:{i}"))
        if self._max_chars is not None and len(text) > self._max_chars:
            findings.append(Finding("content", "MAX_LENGTH", self._max_chars, len(text), 1.0, "max_chars"))
        if self._languages is not None:
            detected = detect_language(text)
            if detected is not None and detected[0] not in self._languages:
                code, confidence = detected
                findings.append(Finding("content", "LANGUAGE", 0, len(text), confidence, f"language:{code}"))
        findings.sort(key=lambda f: (f.start, f.end))
        return findings

    def _phrase_findings(self, folded: Folded, phrases: _PhraseSet) -> list[Finding]:
        out: list[Finding] = []
        spans: dict[str, list[tuple[int, int]]] = {}  # topic -> where its signals occur
        seen: dict[str, set[str]] = {}  # topic -> the distinct signals seen
        for key, a, b in phrases.find(folded.text):
            start, end = folded.span(a, b)
            if key in self._blocked:
                out.append(Finding("content", "BLOCKLIST", start, end, 1.0, "phrase"))
            for topic in self._topics.get(key, ()):
                seen.setdefault(topic, set()).add(key)
                spans.setdefault(topic, []).append((start, end))
        for topic, where in spans.items():
            # Independent evidence: each distinct signal lowers the odds that it is all coincidence.
            miss = 1.0
            for signal in seen[topic]:
                miss *= 1.0 - _topic_weight(signal)
            out.extend(Finding("content", f"TOPIC:{topic}", a, b, 1.0 - miss, "phrase") for a, b in where)
        return out
