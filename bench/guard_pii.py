"""Labelled evaluation and timing of the builtin PII and secret detectors (``pilothouse.guard.pii``).

    .venv/bin/python bench/guard_pii.py            # about 20 seconds
    .venv/bin/python bench/guard_pii.py --per-entity 500 --negatives 2000

How the set is built (fixed seed, no external data):

- Positives: for every entity, ``--per-entity`` sentences (default 400) from a dozen templates per
  entity, some with a telling word ("call", "card", "SSN"), some without, each slot filled by a
  generated value: cards from real IIN ranges with a computed Luhn digit, IBANs of eight countries
  with computed mod-97 check digits, SSNs and NINOs inside their allocation rules, NANP, UK,
  French, German and Indian phone numbers in the formats people write, IPv4 and IPv6 (full and
  compressed), US street lines with optional unit, city, state and ZIP, UK street lines and
  postcodes, vendor API keys of the documented shapes (random bodies), JWTs, PEM blocks, random
  tokens and password assignments. The gold span is the slot. 15% of the values are written the
  other ways people write them, some beyond what the rules are built for (so recall below 1 is
  expected): 7-digit local and unformatted phone numbers, unformatted SSNs, lowercase IBANs and
  NINOs, lowercase or non-US street lines, a bare IPv4 tail, unknown key prefixes, PEM blocks cut
  before their END line, all-lowercase tokens.
- Hard negatives: ``--negatives`` sentences (default 1200) with things that look like PII and are
  not: dates in six formats, times, order, invoice and tracking numbers, ISBN-10 and ISBN-13,
  cards with a wrong Luhn digit, IBANs with wrong check digits, SSNs outside the allocation rules,
  version strings (including four-part ones without the word "version", which read as IPv4),
  Luhn-valid build numbers, UUIDs, git SHAs, image digests, npm integrity hashes, Stripe
  publishable keys, AWS ARNs, UPS tracking numbers, colours, prices and quantities, percentages,
  file paths, URLs, code identifiers, hyphenated prose, plain prose. Any finding in them is a false
  positive.

Scoring is span-level per entity: a prediction is a true positive when its entity matches a gold
span it overlaps; precision counts predictions, recall counts gold spans. PERSON is not scored:
the builtin backend does not report it.

Timing: the median of ``scan`` over a ~1,000-token (about 4,400 characters) English prompt, without
PII and with five PII values, on one core; and the cost of stream redaction over the same text fed
in 4-character deltas.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from pilothouse.guard.pii import PIIScanner
from pilothouse.guard.pii.validators import IBAN_LENGTHS, luhn_valid
from pilothouse.guard.redact import Redactor
from pilothouse.guard.stream_redact import StreamRedactor

SEED = 20240611
ENTITIES = (
    "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "UK_NINO", "IP_ADDRESS", "POSTAL_ADDRESS",
    "API_KEY", "PRIVATE_KEY", "SECRET_TOKEN",
)  # fmt: skip

FIRST = ["james", "mary", "wei", "fatima", "olga", "raj", "lucia", "tom", "aiko", "kwame", "ines", "noah"]
LAST = ["smith", "garcia", "chen", "okafor", "novak", "patel", "rossi", "brown", "tanaka", "mensah", "silva"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "uni-example.edu", "example.io"]
STREETS = ["Main", "Oak", "Maple", "Cedar", "Park", "Washington", "Lake", "Hill", "Sunset", "Baker", "Elm"]
STREET_TYPES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Drive", "Boulevard", "Court", "Way"]
CITIES = [("Springfield", "IL"), ("Portland", "OR"), ("Austin", "TX"), ("Columbus", "OH"), ("Denver", "CO")]
UK_TOWNS = ["London", "Leeds", "Bristol", "Manchester", "York"]
PROSE = [
    "The quarterly review covered revenue, churn and the roadmap for the next two releases.",
    "Please summarise the following discussion in three bullet points for the leadership team.",
    "Our support team answered most tickets within a day, and satisfaction rose to 92 percent.",
    "The migration moved 14 services to the new cluster without downtime over the weekend.",
    "Write a short, friendly reply that thanks the customer and explains the refund policy.",
    "In 2023 the company opened two offices and hired about 40 engineers across Europe.",
    "The model should answer in plain English, cite its sources and avoid speculation.",
    "We compared three retrieval strategies and the hybrid one won on 7 of 9 benchmarks.",
    "Explain the difference between precision and recall to a new analyst, with an example.",
    "The state-of-the-art approach uses a retriever, a re-ranker and a small generator.",
    "Latency at the 99th percentile fell from 850 ms to 310 ms after the cache change.",
    "Draft an agenda for Tuesday: the budget, hiring plans, and the security audit findings.",
    "Section 4.2 describes the evaluation protocol; appendix B lists every prompt we used.",
    "Version 2 of the onboarding flow cut the drop-off rate by a third in six weeks.",
    "Translate the paragraph into Spanish, keeping product names and numbers unchanged.",
]


@dataclass(frozen=True)
class Sample:
    text: str
    gold: tuple[tuple[str, int, int], ...]  # (entity, start, end)


def luhn_complete(partial: str) -> str:
    for digit in string.digits:
        if luhn_valid(partial + digit):
            return partial + digit
    raise AssertionError("unreachable: one check digit always fits")


def iban_for(rng: random.Random, country: str) -> str:
    length = IBAN_LENGTHS[country]
    if country == "GB":
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4))
        bban += "".join(rng.choice(string.digits) for _ in range(length - 8))
    else:
        bban = "".join(rng.choice(string.digits) for _ in range(length - 4))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def group4(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


B62 = string.ascii_letters + string.digits
B64URL = B62 + "-_"


# Value generators: each returns the literal value to put into a template slot.


def gen_email(rng: random.Random) -> str:
    local = (
        rng.choice(FIRST) + rng.choice([".", "_", ""]) + rng.choice(LAST) + rng.choice(["", "42", "+news"])
    )
    return f"{local}@{rng.choice(DOMAINS)}"


def gen_phone(rng: random.Random) -> str:
    area, exchange = rng.randint(201, 989), rng.randint(200, 999)
    if area % 100 == 11:
        area += 1
    line = rng.randint(0, 9999)
    shapes = [
        f"({area}) {exchange}-{line:04d}",
        f"{area}-{exchange}-{line:04d}",
        f"{area}.{exchange}.{line:04d}",
        f"+1 {area} {exchange} {line:04d}",
        f"+1-{area}-{exchange}-{line:04d}",
        f"+44 20 {rng.randint(7000, 8999)} {rng.randint(0, 9999):04d}",
        f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
        f"020 {rng.randint(7000, 8999)} {rng.randint(0, 9999):04d}",
        f"07{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
        f"+33 {rng.randint(1, 7)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
        f"{rng.randint(10, 99)}",
        f"+49 30 {rng.randint(1000000, 9999999)}",
        f"+91 {rng.randint(70000, 99999)} {rng.randint(10000, 99999)}",
    ]
    return rng.choice(shapes)


def gen_card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
                                 ("6011", 16), ("65", 16), ("3530", 16), ("4", 13)])  # fmt: skip
    number = luhn_complete(prefix + rand(rng, string.digits, length - len(prefix) - 1))
    style = rng.random()
    if length == 15 and style < 0.6:
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    if style < 0.5:
        return group4(number)
    if style < 0.75:
        return group4(number).replace(" ", "-")
    return number


def gen_iban(rng: random.Random) -> str:
    value = iban_for(rng, rng.choice(["GB", "DE", "FR", "ES", "NL", "IT", "CH", "BE"]))
    return group4(value) if rng.random() < 0.6 else value


def gen_ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def gen_nino(rng: random.Random) -> str:
    first, second = rng.choice("ABCEGHJKLMNPRSTWXYZ"), rng.choice("ABCEGHJKLMNPRSTWXYZ")
    while first + second in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
        second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    digits = rand(rng, string.digits, 6)
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{first}{second}{digits}{suffix}"


def gen_ip(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return ":".join(groups)
    return f"2001:db8::{groups[5]}:{rng.randint(1, 0xFFFF):x}"


def gen_address(rng: random.Random) -> str:
    number = rng.randint(1, 9999)
    if rng.random() < 0.25:
        outward = rng.choice(["SW1A", "EC1A", "M1", "B33", "LS1", "NW1", "BS8"])
        inward = (
            f"{rng.randint(0, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        )
        street = f"{rng.choice(STREETS)} {rng.choice(['Road', 'Street', 'Lane'])}"
        return f"{number} {street}, {rng.choice(UK_TOWNS)} {outward} {inward}"
    line = f"{number} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
    if rng.random() < 0.3:
        line += f", Apt {rng.randint(1, 40)}{rng.choice('ABCD')}"
    if rng.random() < 0.5:
        city, state = rng.choice(CITIES)
        line += f", {city}, {state} {rng.randint(10000, 99999)}"
    return line


def gen_api_key(rng: random.Random) -> str:
    shapes: list[Callable[[], str]] = [
        lambda: "sk-proj-" + rand(rng, B64URL, 48),
        lambda: "sk-" + rand(rng, B62, 48),
        lambda: "sk-ant-api03-" + rand(rng, B64URL, 93) + "AA",
        lambda: "AKIA" + rand(rng, string.ascii_uppercase + string.digits, 16),
        lambda: "ghp_" + rand(rng, B62, 36),
        lambda: "github_pat_" + rand(rng, B62 + "_", 60),
        lambda: (
            "xoxb-"
            + rand(rng, string.digits, 12)
            + "-"
            + rand(rng, string.digits, 12)
            + "-"
            + rand(rng, B62, 24)
        ),
        lambda: "sk_live_" + rand(rng, B62, 24),
        lambda: "AIza" + rand(rng, B64URL, 35),
        lambda: (
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + rand(rng, B64URL, 40) + "." + rand(rng, B64URL, 43)
        ),
    ]
    return rng.choice(shapes)()


def gen_private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    lines = "\n".join(rand(rng, B62 + "+/", 64) for _ in range(rng.randint(3, 8)))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}\n-----END {kind}PRIVATE KEY-----"


def gen_token(rng: random.Random) -> str:
    return rand(rng, B62, rng.randint(24, 48))


TEMPLATES: dict[str, tuple[Callable[[random.Random], str], list[str]]] = {
    "EMAIL": (gen_email, [
        "Please send the report to {v} by Friday.", "My email is {v}", "cc {v} on the thread",
        "Contact: {v}", "You can reach our sales lead at {v} or by phone.", "({v})",
        "Forwarding from {v}: see below.", "reply-to {v}; thanks", "Is {v} still the right address?",
        "Email {v} with the invoice.", "<{v}>", "Sent by {v}",
    ]),
    "PHONE": (gen_phone, [
        "Call me on {v} after 5pm.", "My phone number is {v}.", "Tel: {v}", "You can reach me at {v}",
        "mobile {v}", "Please ring {v} to confirm.", "The office line is {v}, ask for Sam.",
        "Text {v} when you arrive.", "Emergency contact: {v}", "Fax {v}", "Reach the desk at {v}.",
        "I'm at {v} all week",
    ]),
    "CREDIT_CARD": (gen_card, [
        "My card number is {v}", "Charge it to {v} please.", "Visa {v} exp 04/27", "card: {v}",
        "Use the card ending in the digits of {v}.", "Payment details: {v}", "CC {v}",
        "The number on the card is {v}, thanks.", "Refund to {v}", "I paid with {v} yesterday.",
        "Here it is: {v}", "credit card {v}",
    ]),
    "IBAN": (gen_iban, [
        "My IBAN is {v}", "Please wire the money to {v}.", "IBAN: {v}", "Account {v}, BIC on file.",
        "Transfer to {v} by Monday", "Bank details: {v}", "Pay into {v} please.", "Use {v} for refunds.",
        "The account is {v}.", "Send it to {v}", "Beneficiary IBAN {v}", "Here: {v}",
    ]),
    "US_SSN": (gen_ssn, [
        "My SSN is {v}.", "SSN: {v}", "Social Security number {v}", "ssn {v} on the form",
        "Her social security number is {v}", "Taxpayer {v}", "The applicant's number is {v}.",
        "SSN {v}, DOB on file", "Enter {v} in box 3.", "It is {v}", "Number: {v}", "Use {v}",
    ]),
    "UK_NINO": (gen_nino, [
        "My National Insurance number is {v}.", "NI number: {v}", "NINO {v}", "His NI is {v}",
        "National Insurance {v} on the payslip", "Enter {v} on the form.", "It is {v}", "Ref {v}",
        "NI: {v}", "number {v}.", "The employee's NINO is {v}", "Use {v}",
    ]),
    "IP_ADDRESS": (gen_ip, [
        "The server IP is {v}.", "Connection from {v} was refused.", "Ping {v} to check.",
        "host {v}", "Block {v} at the firewall.", "Logged in from {v} yesterday", "IP: {v}",
        "Route traffic to {v}", "The client address {v} looks suspicious.", "ssh admin@{v}",
        "Allow {v} only", "Resolved to {v}.",
    ]),
    "POSTAL_ADDRESS": (gen_address, [
        "Ship it to {v}.", "My address is {v}", "I live at {v}.", "Deliver to {v} please",
        "Send the invoice to {v}", "Our office: {v}", "The new place is {v}.", "Address: {v}",
        "Return to {v}", "Mail it to {v}.", "Moving to {v} next month", "Pick-up at {v}",
    ]),
    "API_KEY": (gen_api_key, [
        "Here is my key: {v}", "export OPENAI_API_KEY={v}", "api_key = \"{v}\"", "Use {v} for the call",
        "token {v}", "The failing request used {v}.", "Authorization header had {v}",
        "Oops I pasted {v} in the chat", "key={v}", "Try {v}", "{v}", "Authorization: Bearer {v}",
    ]),
    "PRIVATE_KEY": (gen_private_key, [
        "Here is the deploy key:\n{v}", "{v}", "Can you check why this fails?\n{v}\nThanks",
        "key file:\n{v}", "```\n{v}\n```", "Paste:\n{v}",
    ]),
    "SECRET_TOKEN": (gen_token, [
        "secret: {v}", "The webhook secret is {v}", "password={v}", "client_secret: \"{v}\"",
        "Use token {v} for the staging cluster.", "Session {v} expired", "auth {v}",
        "The signing key is {v}.", "{v}", "pwd: {v}", "shared secret {v}", "passphrase {v}",
    ]),
}  # fmt: skip


def negative(rng: random.Random) -> str:
    d = rng.randint
    shapes: list[Callable[[], str]] = [
        lambda: (
            f"The meeting moved to {d(2000, 2030)}-{d(1, 12):02d}-{d(1, 28):02d} at {d(0, 23)}:{d(10, 59)}."
        ),
        lambda: f"Invoice dated {d(1, 28):02d}/{d(1, 12):02d}/{d(2000, 2030)} is overdue.",
        lambda: f"Signed on {d(1, 28)}.{d(1, 12)}.{d(2000, 2030)} in Berlin.",
        lambda: f"Order #{d(10**8, 10**10)} shipped today.",
        lambda: f"Your order number is {d(10**12, 10**16)}; keep it for returns.",
        lambda: f"Tracking ID {rand(rng, string.ascii_uppercase, 2)}{d(10**8, 10**9)}GB arrives Monday.",
        lambda: f"Invoice INV-{d(2020, 2030)}-{d(1000, 99999)} was paid.",
        lambda: f"ISBN 978-{d(0, 1)}-{d(100, 999)}-{d(10000, 99999)}-{d(0, 9)} is the second edition.",
        lambda: f"ISBN {d(0, 1)}-{d(100, 999)}-{d(10000, 99999)}-{d(0, 9)}",
        lambda: f"This card number fails the check: {bad_card(rng)}.",
        lambda: f"The IBAN {bad_iban(rng)} was rejected.",
        lambda: f"Upgrade to version {d(1, 20)}.{d(0, 30)}.{d(0, 99)} before Friday.",
        lambda: (
            f"Tested on Python {d(2, 3)}.{d(6, 13)}.{d(0, 20)} and Node {d(12, 22)}.{d(0, 20)}.{d(0, 9)}."
        ),
        lambda: f"The release {d(1, 12)}.{d(0, 9)}.{d(0, 99)}.{d(0, 999)} fixed the crash.",
        lambda: f"Windows build 10.0.{d(10000, 22999)}.{d(100, 3000)} is affected.",
        lambda: f"Request id {uuid(rng)} failed.",
        lambda: f"Fixed in commit {rand(rng, '0123456789abcdef', 40)}.",
        lambda: (
            f"See {rand(rng, '0123456789abcdef', 7)} and {rand(rng, '0123456789abcdef', 12)} for context."
        ),
        lambda: f"The checksum is sha256:{rand(rng, '0123456789abcdef', 64)}.",
        lambda: (
            f"It costs ${d(1, 9999)}.{d(0, 99):02d}, or {d(1, 999)},{d(100, 999)} EUR for {d(2, 50)} seats."
        ),
        lambda: f"Revenue grew {d(1, 99)}.{d(0, 9)}% to {d(1, 999)} million in Q{d(1, 4)} {d(2015, 2030)}.",
        lambda: f"The file lives in /usr/lib/python3.{d(8, 13)}/site-packages/{rng.choice(LAST)}/__init__.py",
        lambda: (
            f"Docs: https://docs.example.com/{rng.choice(LAST)}/v{d(1, 5)}/api?page={d(1, 99)}#s-{d(1, 9)}"
        ),
        lambda: "Call parseHttpResponseHeaders2 and normalizeUserInputForSearchIndex in the handler.",
        lambda: f"Set max_tokens={d(100, 4000)} and temperature=0.{d(0, 9)} for the run.",
        lambda: f"Room {d(100, 999)}, floor {d(1, 40)}, building {rng.choice('ABCDE')}.",
        lambda: f"The {d(2, 99)} participants scored between {d(0, 50)} and {d(51, 100)} points.",
        lambda: f"Call extension {d(100, 9999)} for help.",
        lambda: f"Coordinates {d(-89, 89)}.{d(10000, 99999)}, {d(-179, 179)}.{d(10000, 99999)}",
        lambda: f"Not an SSN: {rng.choice(['000', '666', str(d(900, 999))])}-{d(10, 99)}-{d(1000, 9999)}",
        lambda: (
            f"Part {rand(rng, string.ascii_uppercase, 3)}-{d(1000, 9999)}-{rng.choice('XYZ')} is in stock."
        ),
        lambda: f"Timestamp {d(1_500_000_000, 1_800_000_000)} in the logs.",
        lambda: f"Upgrade the agent to {d(1, 9)}.{d(0, 9)}.{d(0, 20)}.{d(0, 99)} today.",
        lambda: f"Build {luhn_complete('4' + rand(rng, string.digits, 14))} passed all checks.",
        lambda: f"Publishable key pk_live_{rand(rng, B62, 24)} goes in the page.",
        lambda: f'"integrity": "sha512-{rand(rng, B62 + "+/", 86)}=="',
        lambda: "Rename useEffectHook2WithTimeout3Retries to useRetryingEffect in v2Api.",
        lambda: f"Use the colour #{rand(rng, '0123456789abcdef', 6)} for links.",
        lambda: (
            f"UPS tracking 1Z{rand(rng, string.ascii_uppercase + string.digits, 16)} is out for delivery."
        ),
        lambda: f"Role arn:aws:iam::{d(10**11, 10**12 - 1)}:role/Admin can deploy.",
        lambda: f"Image registry.example.com/app@sha256:{rand(rng, '0123456789abcdef', 64)}",
        lambda: f"Matrix size {d(2, 4096)}x{d(2, 4096)} with {d(1, 64)} heads.",
        lambda: rng.choice(PROSE),
        lambda: " ".join(rng.sample(PROSE, 2)),
    ]
    return rng.choice(shapes)()


def bad_card(rng: random.Random) -> str:
    number = luhn_complete("4" + rand(rng, string.digits, 14))
    wrong = str((int(number[-1]) + rng.randint(1, 9)) % 10)
    return group4(number[:-1] + wrong)


def bad_iban(rng: random.Random) -> str:
    value = iban_for(rng, rng.choice(["GB", "DE", "FR"]))
    check = (int(value[2:4]) + rng.randint(1, 90)) % 97 + 2
    return group4(f"{value[:2]}{check:02d}{value[4:]}")


def uuid(rng: random.Random) -> str:
    h = "0123456789abcdef"
    return f"{rand(rng, h, 8)}-{rand(rng, h, 4)}-4{rand(rng, h, 3)}-a{rand(rng, h, 3)}-{rand(rng, h, 12)}"


# Written the way people also write these, some beyond what the rules are built to catch.
HARD: dict[str, Callable[[random.Random], str]] = {
    "EMAIL": lambda rng: gen_email(rng).title().replace("@", "@mail.").upper(),
    "PHONE": lambda rng: rng.choice(
        [
            f"{rng.randint(201, 989)} {rng.randint(200, 999)} {rng.randint(1000, 9999)}",
            f"+1 ({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            f"{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",  # a 7-digit local number
            f"{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(1000, 9999)}",  # unformatted
        ]
    ),
    "CREDIT_CARD": lambda rng: gen_card(rng).replace(" ", ""),
    "IBAN": lambda rng: gen_iban(rng).lower(),
    "US_SSN": lambda rng: gen_ssn(rng).replace("-", rng.choice(["", " "])),
    "UK_NINO": lambda rng: gen_nino(rng).lower(),
    "IP_ADDRESS": lambda rng: rng.choice(
        [
            f"::ffff:10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",  # mapped IPv4
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24",  # a CIDR block
            f"192.168.{rng.randint(0, 9):03d}.{rng.randint(10, 99):03d}",  # zero-padded octets
        ]
    ),
    "POSTAL_ADDRESS": lambda rng: rng.choice(
        [
            f"{rng.randint(1, 99)} {rng.choice(STREETS).lower()} street",
            f"Flat {rng.randint(1, 9)}, {rng.randint(1, 99)} Queen's Road",
            f"{rng.choice(['One', 'Two', 'Ten'])} {rng.choice(STREETS)} Way, {rng.choice(CITIES)[0]}",
            f"{rng.randint(1, 99)} rue de {rng.choice(STREETS)}, 75001 Paris",
        ]
    ),
    "API_KEY": lambda rng: rng.choice(["sk-", "key-", "AKIA"]) + rand(rng, B62, 32),
    "PRIVATE_KEY": lambda rng: gen_private_key(rng).split("\n-----END")[0],  # cut off before END
    "SECRET_TOKEN": lambda rng: rand(rng, string.ascii_lowercase + string.digits, 32),
}
HARD_SHARE = 0.15


def build(per_entity: int, negatives: int, seed: int = SEED) -> list[Sample]:
    rng = random.Random(seed)
    samples: list[Sample] = []
    for entity, (generate, templates) in TEMPLATES.items():
        for _ in range(per_entity):
            hard = rng.random() < HARD_SHARE
            template, value = rng.choice(templates), (HARD[entity] if hard else generate)(rng)
            prefix, _, suffix = template.partition("{v}")
            samples.append(
                Sample(prefix + value + suffix, ((entity, len(prefix), len(prefix) + len(value)),))
            )
    samples.extend(Sample(negative(rng), ()) for _ in range(negatives))
    return samples


def evaluate(scanner: PIIScanner, samples: list[Sample]) -> dict[str, tuple[int, int, int, int]]:
    """entity -> (true-positive predictions, predictions, matched gold spans, gold spans)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for sample in samples:
        predicted = scanner.scan(sample.text)
        for finding in predicted:
            row = counts[finding.entity]
            row[1] += 1
            if any(
                e == finding.entity and finding.start < end and start < finding.end
                for e, start, end in sample.gold
            ):
                row[0] += 1
        for entity, start, end in sample.gold:
            row = counts[entity]
            row[3] += 1
            if any(f.entity == entity and f.start < end and start < f.end for f in predicted):
                row[2] += 1
    return {entity: (r[0], r[1], r[2], r[3]) for entity, r in counts.items()}


def table(results: dict[str, tuple[int, int, int, int]]) -> str:
    lines = [
        "| entity | gold | predicted | precision | recall | F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    totals = [0, 0, 0, 0]
    for entity in ENTITIES:
        tp, predicted, matched, gold = results.get(entity, (0, 0, 0, 0))
        totals = [a + b for a, b in zip(totals, (tp, predicted, matched, gold), strict=True)]
        lines.append(row(entity, tp, predicted, matched, gold))
    lines.append(row("**all**", *totals))
    return "\n".join(lines)


def row(name: str, tp: int, predicted: int, matched: int, gold: int) -> str:
    precision = tp / predicted if predicted else 1.0
    recall = matched / gold if gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f"| {name} | {gold} | {predicted} | {precision:.3f} | {recall:.3f} | {f1:.3f} |"


def prompt(rng: random.Random, with_pii: bool) -> str:
    sentences = [rng.choice(PROSE) for _ in range(52)]
    if with_pii:
        for index, value in zip(
            (5, 15, 25, 35, 45),
            (
                "jane.doe@example.com",
                "(415) 555-2671",
                "4111 1111 1111 1111",
                "123-45-6789",
                "sk-proj-" + "Ab3dE5fG7h" * 4,
            ),
            strict=True,
        ):
            sentences[index] = f"{sentences[index][:-1]}, reference {value}."  # fmt: skip
    return " ".join(sentences)


def median_us(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def stream(scanner: PIIScanner, text: str) -> None:
    redactor = StreamRedactor(Redactor(scanner), restore=False, redact=True)
    for i in range(0, len(text), 4):
        redactor.feed(text[i : i + 4])
    redactor.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-entity", type=int, default=400)
    parser.add_argument("--negatives", type=int, default=1200)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()

    scanner = PIIScanner()
    samples = build(args.per_entity, args.negatives)
    print(f"{len(samples)} sentences: {args.per_entity} per entity x {len(TEMPLATES)} entities, "
          f"{args.negatives} hard negatives (seed {SEED})\n")  # fmt: skip
    print(table(evaluate(scanner, samples)))

    rng = random.Random(SEED)
    clean, dirty = prompt(rng, with_pii=False), prompt(rng, with_pii=True)
    assert not scanner.scan(clean), "the clean prompt must have no findings"
    print(f"\nprompt: {len(clean)} characters (~{len(clean) // 4} tokens), one core, median of {args.runs}\n")
    print("| measurement | median |\n| --- | ---: |")
    print(f"| scan, no PII | {median_us(lambda: scanner.scan(clean), args.runs):.0f} µs |")
    print(f"| scan, 5 PII values | {median_us(lambda: scanner.scan(dirty), args.runs):.0f} µs |")
    redactor = Redactor(scanner)
    print(f"| redact, 5 PII values | {median_us(lambda: redactor.redact(dirty), args.runs):.0f} µs |")
    runs = max(10, args.runs // 10)
    streamed = median_us(lambda: stream(scanner, dirty), runs)
    print(f"| stream redaction, 4-character deltas, 5 PII values | {streamed:.0f} µs |")


if __name__ == "__main__":
    main()
