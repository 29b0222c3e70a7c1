"""API_KEY, PRIVATE_KEY and SECRET_TOKEN: credentials pasted into prompts, tool results or answers.

Format rules (vendor key prefixes, JWTs, PEM blocks, ``api_key=...`` assignments) score high; the
entropy rule for unknown tokens scores lower and refuses what merely looks random: UUIDs, hex
hashes outside a secret-ish context, paths and URLs, identifiers whose character classes come in
runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial

from pilothouse.guard.pii import context
from pilothouse.guard.pii.base import Detector, found, scan
from pilothouse.guard.pii.validators import char_classes, class_switch_ratio, shannon_entropy
from pilothouse.guard.types import Finding

MIN_TOKEN = 20

_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----")
PEM_HEADER_SPAN = 64


def find_private_keys(text: str, start: int, stop: int) -> Iterator[Finding]:
    """A PEM block through its END line; an unterminated one runs to the end of the text."""
    search_from = start
    while text.find("-----BEGIN", search_from, stop + PEM_HEADER_SPAN) != -1:
        begin = _PEM_BEGIN.search(text, search_from)
        if begin is None or begin.start() >= stop:
            return
        end_line = _PEM_END.search(text, begin.end())
        end = end_line.end() if end_line is not None else len(text)
        yield found("PRIVATE_KEY", begin.start(), end, 0.99, "regex:pem")
        search_from = end


# Vendor formats, tried at the start of each token-character run.
_KEY = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"(?P<anthropic>sk-ant-[A-Za-z0-9_-]{32,})"
    r"|(?P<openai>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})"
    r"|(?P<aws>(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?![A-Za-z0-9]))"
    r"|(?P<github>gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"
    r"|(?P<slack>xox[baprs]-[A-Za-z0-9-]{10,})"
    r"|(?P<stripe>[rs]k_(?P<mode>live|test)_[A-Za-z0-9]{16,})"
    r"|(?P<google>AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-]))"
    r")"
)
_KEY_SCORES = {"anthropic": 0.95, "openai": 0.9, "aws": 0.9, "github": 0.95, "slack": 0.9, "google": 0.9}
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_RUN = re.compile(r"(?<![A-Za-z0-9_+/-])[A-Za-z0-9_+/-]{20,}={0,2}")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_HEX_HASH_LENGTHS = frozenset({32, 40, 56, 64, 96, 128})
_PATH_SEGMENT = re.compile(r"[a-z][a-z_.-]{2,}")
_NON_SPACE = re.compile(r"\S*")
# Random-looking but public: Stripe publishable keys, subresource-integrity and npm lockfile hashes.
_PUBLIC_PREFIXES = ("pk_live_", "pk_test_", "sha1-", "sha256-", "sha384-", "sha512-")


def _long_tokens(text: str, start: int, stop: int) -> Iterator[tuple[int, int]]:
    """Spans of whitespace-separated tokens of at least MIN_TOKEN characters: every key format and
    every entropy candidate lives inside one, and str.split finds them at C speed."""
    tokens = text[start:stop].split()
    if not tokens or max(map(len, tokens)) < MIN_TOKEN:
        return  # the usual case for prose, decided at C speed
    cursor = start
    for token in tokens:
        if len(token) >= MIN_TOKEN:
            # The first occurrence at or after the cursor is this token: an earlier one would sit
            # inside another long token, which the cursor has passed.
            start = text.find(token, cursor)
            cursor = start + len(token)
            yield start, cursor


def _vendor_score(match: re.Match[str]) -> float:
    kind = match.lastgroup or ""
    if kind == "stripe":
        return 0.95 if match.group("mode") == "live" else 0.8
    if kind == "openai":
        body = match.group().removeprefix("sk-")
        if body.startswith(("proj-", "svcacct-", "admin-")):
            return 0.95
        # "sk-learn-style-hyphenated-words" is not a key: a key body mixes digits and letters.
        plain = body.replace("-", "").replace("_", "")
        return 0.9 if char_classes(plain) >= 2 and any(c.isdigit() for c in plain) else 0.0
    return _KEY_SCORES.get(kind, 0.0)


def _token_prefix(text: str, start: int) -> str:
    """What precedes a run inside its whitespace-separated token, at most 64 characters of it
    (bounded, so a scan of a held tail with some context in front judges a run the same way)."""
    window = text[max(0, start - 64) : start]
    tail = _NON_SPACE.match(window[::-1])
    return window[len(window) - (tail.end() if tail else 0) :]


def _looks_like_path(prefix: str, run: str) -> bool:
    if "://" in prefix or "\\" in prefix or ";base64," in prefix or run.startswith(("/", "./", "~/")):
        return True  # URLs, Windows paths, data: URLs (base64 payloads are random by nature)
    return "/" in run and sum(1 for part in run.split("/") if _PATH_SEGMENT.fullmatch(part)) >= 2


def _entropy_score(text: str, start: int, run: str) -> float:
    """Confidence that an unknown run of token characters is a secret; 0 when it is not."""
    if (
        _looks_like_path(_token_prefix(text, start), run)
        or _UUID.search(run)
        or run.startswith(_PUBLIC_PREFIXES)
    ):
        return 0.0
    core = run.rstrip("=")
    if _HEX.fullmatch(core):
        # Git SHAs and checksums are everywhere; only a secret-ish word nearby makes one a secret.
        hashy = len(core) in _HEX_HASH_LENGTHS and context.mentions(text, start, context.SECRET_WORDS)
        return 0.75 if hashy else 0.0
    has_digit = any(c.isdigit() for c in core)
    if not has_digit or char_classes(core) < 3 or class_switch_ratio(core) < 0.3:
        return 0.0
    # Random base62 of n characters carries about log2(n) bits per character at these lengths.
    threshold = 3.6 if len(core) < 24 else 3.8 if len(core) < 32 else 4.0
    if shannon_entropy(core) < threshold:
        return 0.0
    return 0.8 if context.mentions(text, start, context.SECRET_WORDS) else 0.65


def _judge_key(match: re.Match[str]) -> Finding | None:
    score = _vendor_score(match)
    return found("API_KEY", match.start(), match.end(), score, f"regex:{match.lastgroup}") if score else None


def _judge_run(text: str, match: re.Match[str], taken: list[Finding]) -> Finding | None:
    start, end = match.span()
    if any(start < other.end and other.start < end for other in taken):
        return None  # inside a key already reported
    score = _entropy_score(text, start, match.group())
    return found("SECRET_TOKEN", start, end, score, "entropy") if score else None


def find_tokens(text: str, start: int, stop: int) -> Iterator[Finding]:
    # Matches never cross whitespace, so each long token is scanned on its own, to its end.
    for token_start, token_end in _long_tokens(text, start, stop):
        taken = list(scan(_KEY, text, token_start, token_end, 0, _judge_key))
        if text.find("eyJ", token_start, token_end) != -1:
            taken += scan(
                _JWT, text, token_start, token_end, 0, lambda m: found("API_KEY", *m.span(), 0.9, "regex:jwt")
            )
        yield from taken
        yield from scan(_RUN, text, token_start, token_end, 0, partial(_judge_run, text, taken=taken))


# "api_key = ...", "OPENAI_API_KEY=...", '"password": "..."', "token: ...". The value alone is the span.
_ASSIGNED_KEYWORD = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?P<kw>api[_-]?key|x-api-key|access[_-]?key(?:[_-]?id)?|secret[_-]?(?:access[_-]?)?key"
    r"|client[_-]?secret|secret|access[_-]?token|auth[_-]?token|refresh[_-]?token|token"
    r"|password|passwd|pwd)[\"']?\s{0,3}$"
)
_ASSIGNED_VALUE = re.compile(r"\s{0,3}[\"']?(?P<value>[^\s\"'`,;<>(){}\[\]]{8,})")
_PASSWORD_KEYWORDS = ("pass", "pwd", "secret")
_KEYWORD_STEMS = ("key", "token", "secret", "pass", "pwd")
_PLACEHOLDERS = frozenset({
    "none", "null", "true", "false", "undefined", "redacted", "changeme", "example", "placeholder",
    "your_api_key", "your-api-key", "your_token", "password", "required", "optional", "string",
})  # fmt: skip
_BEARER = re.compile(r"(?<![A-Za-z0-9])[Bb]earer\s{1,3}(?P<value>[A-Za-z0-9._~+/-]{16,}=*)")


def _separators(text: str, start: int) -> Iterator[int]:
    """Positions of ':' and '=' from ``start``, in order, by str.find (no per-character regex)."""
    colon, equals = text.find(":", start), text.find("=", start)
    while colon != -1 or equals != -1:
        if equals == -1 or (colon != -1 and colon < equals):
            yield colon
            colon = text.find(":", colon + 1)
        else:
            yield equals
            equals = text.find("=", equals + 1)


def _is_password(keyword: str) -> bool:
    """Passwords and client secrets are SECRET_TOKEN; keys and tokens for an API are API_KEY."""
    return any(word in keyword for word in _PASSWORD_KEYWORDS) and "key" not in keyword


def _assigned_score(keyword: str, value: str) -> float:
    lowered = value.lower()
    if (
        lowered in _PLACEHOLDERS
        or value[0] in "$%*#&@.!?/"
        or "://" in value
        or "..." in value
        or len(set(lowered)) <= 2  # xxxxxxxx, ********
        or lowered.startswith(("your", "<", "env", "os.", "process.", "sk-..."))
    ):
        return 0.0
    classes = char_classes(value)
    if _is_password(keyword):
        return 0.8 if classes >= 2 else 0.6
    if classes < 2 and len(value) < 16:
        return 0.0  # "token: validation", "api_key=12345678"
    # Above the entropy rule's 0.8: the keyword also says which entity the value is.
    return 0.85 if classes >= 3 or shannon_entropy(value) >= 3.5 else 0.6


def find_assignments(text: str, pos: int, stop: int) -> Iterator[Finding]:
    for sep in _separators(text, max(0, pos - 8)):
        if text.startswith("//", sep + 1):
            continue  # a URL scheme, not an assignment
        window = text[max(0, sep - 40) : sep].lower()
        if not any(word in window for word in _KEYWORD_STEMS):
            continue  # most colons in prose end a label or a clause
        keyword = _ASSIGNED_KEYWORD.search(text, max(0, sep - 40), sep)
        if keyword is None:
            continue
        value = _ASSIGNED_VALUE.match(text, sep + 1)
        if value is None or value.start("value") < pos:
            continue
        name = keyword.group("kw").lower()
        score = _assigned_score(name, value.group("value"))
        if score:
            entity = "SECRET_TOKEN" if _is_password(name) else "API_KEY"
            yield found(entity, *value.span("value"), score, "regex:assignment")
    # "Bearer" itself may lie before pos (up to 10 characters), as with keywords above.
    if text.find("earer", max(0, pos - 10)) != -1:
        for match in _BEARER.finditer(text, max(0, pos - 10)):
            if match.start("value") >= pos:
                yield found("API_KEY", match.start("value"), match.end("value"), 0.85, "regex:bearer")


PRIVATE_KEY = Detector("private_key", frozenset({"PRIVATE_KEY"}), find_private_keys, max_span=PEM_HEADER_SPAN)
TOKENS = Detector("tokens", frozenset({"API_KEY", "SECRET_TOKEN"}), find_tokens)
ASSIGNMENTS = Detector("assignments", frozenset({"API_KEY", "SECRET_TOKEN"}), find_assignments, max_span=56)
