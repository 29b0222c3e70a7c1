"""Undo the cheap disguises attackers put on instructions before the heuristics look at them.

``fold`` maps a text to a lowercase, accent-free Latin form (NFKD compatibility decomposition,
combining marks dropped, Cyrillic and Greek look-alikes folded to Latin, zero-width and
invisible characters removed, light leetspeak undone inside mixed letter-digit words) and keeps,
for every folded character, the index of the original character it came from, so a match can be
reported as a span of the caller's text.

``hidden_segments`` finds text hidden inside the input (base64, hex, URL or HTML escapes,
Unicode tag characters, variation-selector byte smuggling, letter-spaced words, ROT13, reversed
text) and returns the decoded text, folded, with the span it was hidden in.
"""

# ruff: noqa: RUF001, RUF003 -- the look-alike table below is made of exactly the characters these rules flag

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass
from functools import lru_cache

# Latin look-alikes from Cyrillic and Greek (lowercase after folding): the letters attackers swap
# in to slip "іgnоrе" past keyword filters. Not the full Unicode confusables table; the letters
# that render identically in common fonts.
_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j",
    "ԁ": "d", "ɡ": "g", "һ": "h", "ԛ": "q", "ԝ": "w", "ү": "y", "ӏ": "l", "ո": "n", "ս": "u",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j", "ω": "w",
    # Latin oddities NFKD keeps apart
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe", "ɑ": "a", "ſ": "s",
}  # fmt: skip

# Removed outright: zero-width and joiner characters, bidi controls, soft hyphen, variation
# selectors (decoded separately when they carry bytes), BOM.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)

_LEET = str.maketrans("0134578@$", "oieastbas")
_LEET_HINT = re.compile(r"[a-z][0134578$]+[a-z]")
_SHORT = 2000  # below this many characters, the rarer disguises are cheap enough to always try
_LEET_WORD = re.compile(r"(?<![\w@$])(?=[\w@$]*[a-z])(?=[\w@$]*[0-9@$])[a-z0-9@$]{3,}(?![\w@$])")


@dataclass(frozen=True, slots=True)
class Folded:
    """A folded text; ``origin[i]`` is the index in the original of folded character ``i``
    (``None`` when the two are the same length and aligned)."""

    text: str
    origin: tuple[int, ...] | None
    size: int  # length of the original text

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of folded ``text[start:end]``."""
        if self.origin is None:
            return start, end
        if start >= len(self.origin):
            return self.size, self.size
        last = self.origin[max(start, end - 1)] if end > start else self.origin[start]
        return self.origin[start], min(self.size, last + 1)


@dataclass(frozen=True, slots=True)
class Segment:
    """Text decoded out of ``[start, end)`` of the original by ``how`` (``base64``, ``rot13``...)."""

    how: str
    text: str
    start: int
    end: int


@lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    mapped = _CONFUSABLES.get(ch.lower())
    if mapped is not None:
        return mapped
    decomposed = unicodedata.normalize("NFKD", ch)
    out = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(_CONFUSABLES.get(c, c) for c in out.lower())


def _undo_leet(text: str) -> str:
    # Leetspeak disguises short commands; in long documents "co2e" or "h1n1" are just words.
    if len(text) > _SHORT or not _LEET_HINT.search(text):
        return text
    # Same-length replacement keeps the index map valid.
    return _LEET_WORD.sub(lambda m: m.group(0).translate(_LEET), text)


def fold(text: str) -> Folded:
    if text.isascii():
        return Folded(_undo_leet(text.lower()), None, len(text))
    pieces: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        if ch.isascii():
            pieces.append(ch.lower())
            origin.append(index)
            continue
        if _INVISIBLE.match(ch):
            continue
        out = _fold_char(ch)
        pieces.append(out)
        origin.extend([index] * len(out))
    return Folded(_undo_leet("".join(pieces)), tuple(origin), len(text))


def mixed_script_words(text: str) -> int:
    """Words mixing Latin letters with Cyrillic or Greek ones: homoglyph disguise, not language."""
    if text.isascii():
        return 0
    count = 0
    for word in re.findall(r"\w{3,}", text):
        if word.isascii():
            continue
        latin = sum(1 for c in word if c.isascii() and c.isalpha())
        other = sum(1 for c in word if c.lower() in _CONFUSABLES and not c.isascii())
        count += latin > 0 and other > 0
    return count


def invisible_count(text: str) -> int:
    return 0 if text.isascii() else len(_INVISIBLE.findall(text))


# --- hidden text --------------------------------------------------------------------------------

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?:(?:\\x|0x)?[0-9a-fA-F]{2}[\s:,]?){12,}")
_SPACED_HEX_HINT = 12  # two-character tokens before "49 67 6e 6f ..." is worth a regex scan
_URL_ESCAPES = re.compile(r"(?:%[0-9a-fA-F]{2}){4,}")
_HTML_ESCAPES = re.compile(r"(?:&#x?[0-9a-fA-F]{2,6};){4,}")
_UNICODE_ESCAPES = re.compile(r"(?:\\u[0-9a-fA-F]{4}){4,}")
_TAGS = re.compile("[\U000e0020-\U000e007e]{4,}")
_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{8,}")
_SPACED = re.compile(r"(?<![a-z])(?:[a-z][ .\-_*/|+]{1,2}){4,}[a-z](?![a-z])")
_WORD_GAP = re.compile(r"[ .\-_*/|+]{2}")
_SEPARATOR = re.compile(r"[ .\-_*/|+]")
_ROT13_HINTS = ("rot13", "rot-13", "rot 13", "rot_13", "caesar", "cipher", "rotat", "decode")


def _printable(decoded: str) -> bool:
    if len(decoded) < 8:
        return False
    good = sum(1 for c in decoded if c.isprintable() or c in "\n\t")
    letters = sum(1 for c in decoded if c.isalpha() or c == " ")
    return good >= 0.95 * len(decoded) and letters >= 0.6 * len(decoded) and " " in decoded


def _from_base64(chunk: str) -> str | None:
    # Identifiers and words are base64-shaped too: require both cases or digits to bother.
    if chunk.isalpha() and (chunk.islower() or chunk.isupper()):
        return None
    padded = chunk + "=" * (-len(chunk) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return decoded if _printable(decoded) else None


def _from_hex(chunk: str) -> str | None:
    digits = re.sub(r"\\x|0x|[\s:,]", "", chunk)
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        decoded = bytes.fromhex(digits).decode("utf-8")
    except ValueError:
        return None
    return decoded if _printable(decoded) else None


def _from_selectors(chunk: str) -> str | None:
    data = bytearray()
    for ch in chunk:
        code = ord(ch)
        data.append(code - 0xFE00 if code <= 0xFE0F else code - 0xE0100 + 16)
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return decoded if _printable(decoded) else None


def _long_tokens(text: str, minimum: int) -> list[tuple[int, str]]:
    """Whitespace-free runs of at least ``minimum`` characters with their offsets; ``str.split`` is
    much faster than a regex scan of the whole text."""
    found: list[tuple[int, str]] = []
    cursor = 0
    for token in text.split():
        if len(token) >= minimum:
            cursor = text.find(token, cursor)
            found.append((cursor, token))
            cursor += len(token)
    return found


def _spaced_hint(tokens: list[str], lengths: list[int]) -> bool:
    if lengths.count(1) >= 5:
        return True
    # "i-g-n-o-r-e": only looked for in short texts, where the token loop is cheap.
    return len(tokens) <= _SHORT // 5 and any(
        len(set(t[1::2])) == 1 and not t[1].isalnum() for t in tokens if len(t) >= 9
    )


def hidden_segments(text: str, folded: Folded) -> list[Segment]:
    """Decoded readings of the parts of ``text`` that hide other text; each folded."""
    found: list[Segment] = []

    def add(how: str, decoded: str | None, start: int, end: int) -> None:
        if decoded:
            found.append(Segment(how, fold(decoded).text, start, end))

    for offset, token in _long_tokens(text, 16):
        for m in _BASE64.finditer(token):
            add("base64", _from_base64(m.group(0)), offset + m.start(), offset + m.end())
        for m in _HEX.finditer(token):
            add("hex", _from_hex(m.group(0)), offset + m.start(), offset + m.end())
    if "%" in text:
        for m in _URL_ESCAPES.finditer(text):
            add("url", urllib.parse.unquote(m.group(0)), m.start(), m.end())
    if "&#" in text:
        for m in _HTML_ESCAPES.finditer(text):
            add("html", html.unescape(m.group(0)), m.start(), m.end())
    if "\\u" in text:
        for m in _UNICODE_ESCAPES.finditer(text):
            add("unicode_escape", codecs.decode(m.group(0), "unicode_escape"), m.start(), m.end())
    if not text.isascii():
        for m in _TAGS.finditer(text):
            add("unicode_tags", "".join(chr(ord(c) - 0xE0000) for c in m.group(0)), m.start(), m.end())
        for m in _SELECTORS.finditer(text):
            add("variation_selectors", _from_selectors(m.group(0)), m.start(), m.end())
    tokens = folded.text.split()
    lengths = list(map(len, tokens))
    if lengths.count(2) >= _SPACED_HEX_HINT:
        for m in _HEX.finditer(text):
            add("hex", _from_hex(m.group(0)), m.start(), m.end())
    if _spaced_hint(tokens, lengths):
        for m in _SPACED.finditer(folded.text):
            # "i g n o r e  a l l": two separators mark a word gap, one separates letters.
            words = _SEPARATOR.sub("", _WORD_GAP.sub("\0", m.group(0))).replace("\0", " ")
            found.append(Segment("spaced", words, *folded.span(m.start(), m.end())))
    if len(folded.text) <= _SHORT or any(hint in folded.text for hint in _ROT13_HINTS):
        found.append(Segment("rot13", codecs.encode(folded.text, "rot13"), 0, len(text)))
    if len(folded.text) <= _SHORT:
        found.append(Segment("reversed", folded.text[::-1], 0, len(text)))
    return found
