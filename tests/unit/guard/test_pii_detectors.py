"""``guard.pii``: what each detector reports and, as much, what it must not."""

from __future__ import annotations

import itertools
import time

import pytest

from pilothouse.core.guarding import PII_ENTITIES, SECRET_ENTITIES, PIIGuardConfig, SecretsGuardConfig
from pilothouse.guard.pii import KNOWN_ENTITIES, PIIScanner
from pilothouse.guard.pii.validators import card_network, iban_valid, luhn_valid, ssn_valid
from pilothouse.guard.types import Finding

pytestmark = pytest.mark.unit

SCANNER = PIIScanner()


def found(text: str, scanner: PIIScanner = SCANNER) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in scanner.scan(text)]


POSITIVES = {
    "EMAIL": [
        ("mail bob@example.com now", "bob@example.com"),
        ("x: first.last+tag@sub.example.co.uk.", "first.last+tag@sub.example.co.uk"),
        ("<jane_doe99@mail-server.io>", "jane_doe99@mail-server.io"),
    ],
    "PHONE": [
        ("call +1 415 555 2671", "+1 415 555 2671"),
        ("office +44 20 7946 0958.", "+44 20 7946 0958"),
        ("+33 1 42 68 53 00", "+33 1 42 68 53 00"),
        ("+44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
        ("0044 20 7946 0958", "0044 20 7946 0958"),
        ("(415) 555-2671", "(415) 555-2671"),
        ("415-555-2671", "415-555-2671"),
        ("415.555.2671", "415.555.2671"),
        ("1-800-555-0199", "1-800-555-0199"),
        ("020 7946 0958", "020 7946 0958"),
        ("07700 900123", "07700 900123"),
        ("call me on 4155552671", "4155552671"),
    ],
    "CREDIT_CARD": [
        ("card 4111 1111 1111 1111", "4111 1111 1111 1111"),
        ("4111-1111-1111-1111", "4111-1111-1111-1111"),
        ("pay with 4111111111111111 today", "4111111111111111"),
        ("5500 0000 0000 0004", "5500 0000 0000 0004"),
        ("amex 3782 822463 10005", "3782 822463 10005"),
        ("6011 1111 1111 1117", "6011 1111 1111 1117"),
    ],
    "IBAN": [
        ("IBAN GB82 WEST 1234 5698 7654 32 please", "GB82 WEST 1234 5698 7654 32"),
        ("GB82WEST12345698765432", "GB82WEST12345698765432"),
        ("DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
        ("FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
        ("nl91abna0417164300", "nl91abna0417164300"),
        ("DE89 3704 0044 0532 0130 00 THEN MORE CAPS", "DE89 3704 0044 0532 0130 00"),
    ],
    "US_SSN": [
        ("SSN 123-45-6789", "123-45-6789"),
        ("ssn: 123456789", "123456789"),
        ("social security 123 45 6789", "123 45 6789"),
    ],
    "UK_NINO": [
        ("NI AB123456C", "AB123456C"),
        ("AB 12 34 56 C", "AB 12 34 56 C"),
        ("NINO: JG103759A", "JG103759A"),
    ],
    "IP_ADDRESS": [
        ("host 192.168.1.20", "192.168.1.20"),
        ("ping 8.8.8.8.", "8.8.8.8"),
        ("2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"),
        ("from fe80::1ff:fe23:4567:890a,", "fe80::1ff:fe23:4567:890a"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
        ("mapped ::ffff:10.1.2.3", "::ffff:10.1.2.3"),
    ],
    "POSTAL_ADDRESS": [
        ("I live at 123 Main St", "123 Main St"),
        ("123 Main Street, Springfield, IL 62704.", "123 Main Street, Springfield, IL 62704"),
        ("221B Baker Street", "221B Baker Street"),
        ("350 5th Avenue", "350 5th Avenue"),
        ("Apt 4B, 12 Oak Lane", "Apt 4B, 12 Oak Lane"),
        ("42 Elm Rd, Apt 3", "42 Elm Rd, Apt 3"),
        ("P.O. Box 1234", "P.O. Box 1234"),
        ("London SW1A 1AA", "SW1A 1AA"),
        ("10 Downing Street, London SW1A 2AA", "10 Downing Street, London SW1A 2AA"),
    ],
    "API_KEY": [
        ("key sk-proj-abcDEF1234567890ghijKLMNOP", "sk-proj-abcDEF1234567890ghijKLMNOP"),
        (
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        ),
        ("aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        ("xoxb-123456789012-abcdefABCDEF", "xoxb-123456789012-abcdefABCDEF"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        ('api_key = "Zx9Qw8Er7Ty6Ui5Op4"', "Zx9Qw8Er7Ty6Ui5Op4"),
        ("export OPENAI_API_KEY=abc123def456ghi789", "abc123def456ghi789"),
        ("Authorization: Bearer abcdef0123456789abcdef", "abcdef0123456789abcdef"),
    ],
    "PRIVATE_KEY": [
        (
            "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nthanks",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        ),
        (  # unterminated: to the end of the text
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA",
        ),
    ],
    "SECRET_TOKEN": [
        ("random q8Zr2LmX9vT4kP1sW7nB3yH6 here", "q8Zr2LmX9vT4kP1sW7nB3yH6"),
        ("password: hunter2hunter2", "hunter2hunter2"),
        ("secret=5f4dcc3b5aa765d61d8327deb882cf99", "5f4dcc3b5aa765d61d8327deb882cf99"),
        ('{"client_secret": "Qm9iIGlzIGEgc2VjcmV0"}', "Qm9iIGlzIGEgc2VjcmV0"),
    ],
}


@pytest.mark.parametrize(
    ("entity", "text", "value"),
    [(entity, text, value) for entity, cases in POSITIVES.items() for text, value in cases],
)
def test_positive(entity: str, text: str, value: str) -> None:
    assert (entity, value) in found(text)


NEGATIVES = [
    "On 2023-10-15 we shipped",
    "dated 12/05/2023 and 15.10.2023",
    "order #123456789",
    "Order 1234567890123456 shipped",
    "version 1.2.3.4",
    "v1.2.3.4 and Python 3.11.4",
    "Windows 10.0.19045.2965",
    "ISBN 978-0-306-40615-7",
    "ISBN 0-306-40615-2",
    "4111 1111 1111 1112",  # Luhn fails
    "0000 0000 0000 0000",  # Luhn passes, not a card
    "GB82 WEST 1234 5698 7654 33",  # mod 97 fails
    "GB45 YAQN 9177 0285 4933 99 was rejected",  # its tail looks like a Luhn-valid number
    "UUID 123e4567-e89b-12d3-a456-426614174000",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    "price $1,234.56 or 19.99 EUR",
    "the state-of-the-art transformer architecture",
    "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000",
    "QQ123456C AB123456E",
    "999.1.1.1 and 1.2.3 and 12:30:45 and std::vector and dead::beef",
    "call 555-1234 from room 101",
    "sk-learn-is-a-python-library-name",
    "Rename parseHttp2ResponseHeadersQuickly now",
    "/usr/local/lib/python3.11/site-packages/pkg_resources/__init__.py",
    "https://example.com/a/b/c/d?x=1&page=2#section-3",
    "max_tokens=1000 and token: validation and password: none",
    "Chapter 3 of the book, in 2019 we grew 20%",
    "ticket 4155552671 and timestamp 1699999999",
    "Publishable key pk_live_xJ0ru7G6wcHiqLqPZLLQnC2X",
    '"integrity": "sha512-ykK0r9/M8jP2dIbWYscWtdG7KDlb3jZoj62TRPP/3sWh8oTzyrD+Vu5LNvSUXa2zd/Gf=="',
    "image data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
    "John Smith met Mary Jones in Paris.",  # PERSON needs the presidio backend
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_negative(text: str) -> None:
    assert found(text) == []


def test_context_words_decide_bare_numbers() -> None:
    assert found("call me on 4155552671") == [("PHONE", "4155552671")]
    assert found("the id is 4155552671") == []
    assert found("ssn 123456789") == [("US_SSN", "123456789")]
    assert found("count 123456789") == []
    assert found("Order no. 4111 1111 1111 1111") == []  # a card-shaped order number stays below 0.5


def test_hex_hash_is_a_secret_only_in_context() -> None:
    digest = "5f4dcc3b5aa765d61d8327deb882cf99"
    assert found(f"md5 {digest}") == []
    assert found(f"the webhook secret is {digest}") == [("SECRET_TOKEN", digest)]


def test_findings_carry_kind_score_and_detector() -> None:
    text = "card 4111 1111 1111 1111 key AKIAIOSFODNN7EXAMPLE"
    card, key = SCANNER.scan(text)
    assert (card.kind, card.entity, card.detector) == ("pii", "CREDIT_CARD", "luhn")
    assert card.score >= 0.95
    assert (key.kind, key.entity, key.detector) == ("secret", "API_KEY", "regex:aws")
    assert card.describe()["start"] == 5


def test_validated_scores_above_pattern_scores() -> None:
    (iban,) = SCANNER.scan("GB82 WEST 1234 5698 7654 32")
    (phone,) = SCANNER.scan("415-555-2671")
    (token,) = SCANNER.scan("q8Zr2LmX9vT4kP1sW7nB3yH6")
    (key,) = SCANNER.scan("ghp_abcdefghijklmnopqrstuvwxyz0123456789")
    assert iban.score >= 0.95 > phone.score
    assert key.score > token.score


def test_overlaps_resolve_to_the_stronger_finding() -> None:
    # The IBAN's digits also read as a bare phone-shaped run; a PEM body also looks random.
    assert found("IBAN DE89370400440532013000") == [("IBAN", "DE89370400440532013000")]
    pem = "-----BEGIN PRIVATE KEY-----\nq8Zr2LmX9vT4kP1sW7nB3yH6q8Zr2LmX9vT4\n-----END PRIVATE KEY-----"
    assert found(pem) == [("PRIVATE_KEY", pem)]
    assert found('api_key="sk-proj-abcDEF1234567890ghijKLMNOP"') == [
        ("API_KEY", "sk-proj-abcDEF1234567890ghijKLMNOP")
    ]


def test_scan_is_sorted_and_non_overlapping() -> None:
    text = "a@b.io 415-555-2671 4111 1111 1111 1111 AB123456C 10.0.0.1 123 Main St sk_live_4eC39HqLyjWDarj1"
    findings = SCANNER.scan(text)
    assert [f.entity for f in findings] == [
        "EMAIL", "PHONE", "CREDIT_CARD", "UK_NINO", "IP_ADDRESS", "POSTAL_ADDRESS", "API_KEY"
    ]  # fmt: skip
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))


def test_entities_and_min_score_filter() -> None:
    text = "mail bob@example.com, card 4111 1111 1111 1111, call 4155552671"
    assert found(text, PIIScanner(["EMAIL"])) == [("EMAIL", "bob@example.com")]
    assert [e for e, _ in found(text, PIIScanner(min_score=0.95))] == ["CREDIT_CARD"]
    assert ("PHONE", "4155552671") in found(text, PIIScanner(["PHONE"], min_score=0.3))


def test_unknown_entity_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="PASSPORT") as error:
        PIIScanner(["EMAIL", "PASSPORT"])
    assert all(entity in str(error.value) for entity in KNOWN_ENTITIES)
    with pytest.raises(ValueError, match="min_score"):
        PIIScanner(min_score=1.5)


def test_from_config_defaults_to_the_family() -> None:
    pii = PIIScanner.from_config(PIIGuardConfig(guard="pii", min_score=0.7))
    assert pii.entities == frozenset(PII_ENTITIES) and pii.min_score == 0.7
    secrets = PIIScanner.from_config(SecretsGuardConfig(guard="secrets"))
    assert secrets.entities == frozenset(SECRET_ENTITIES)
    assert found("bob@example.com AKIAIOSFODNN7EXAMPLE", secrets) == [("API_KEY", "AKIAIOSFODNN7EXAMPLE")]
    chosen = PIIScanner.from_config(PIIGuardConfig(guard="pii", entities=["EMAIL"]))
    assert chosen.entities == frozenset({"EMAIL"})


def test_presidio_backend_needs_presidio() -> None:
    with pytest.raises(RuntimeError, match="pip install presidio-analyzer"):
        PIIScanner(backend="presidio")
    with pytest.raises(RuntimeError, match="pip install presidio-analyzer"):
        import pilothouse.guard.pii.presidio  # noqa: F401


def test_candidates_from_pos_read_context_before_it() -> None:
    text = "please call 4155552671"
    (phone,) = SCANNER.select(SCANNER.candidates(text, pos=12))
    assert phone == Finding("pii", "PHONE", 12, 22, phone.score, "regex:phone")
    assert phone.score >= 0.5  # "call" lies before pos, still counted
    assert SCANNER.candidates(text, pos=13) == [] or all(f.start >= 13 for f in SCANNER.candidates(text, 13))


def test_validators() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert card_network("378282246310005") == "amex"
    assert card_network("4111111111111111") == "visa"
    assert card_network("9111111111111111") is None
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST1234569876543")
    assert not iban_valid("XX82WEST12345698765432")
    assert ssn_valid("123", "45", "6789") and not ssn_valid("666", "45", "6789")


def test_prose_scan_is_fast() -> None:
    # About 1,000 tokens of English without PII; the budget in the spec is well under 1 ms on one
    # core. Asserted loosely (shared CI machines), measured properly in bench/guard_pii.py.
    sentence = (
        "The quarterly review covered revenue, churn and the roadmap for the next 2 releases; "
        "see section 4.2 for the details of the evaluation protocol we used in 2023. "
    )
    text = sentence * (4400 // len(sentence))
    SCANNER.scan(text)
    started = time.perf_counter()
    for _ in range(20):
        assert SCANNER.scan(text) == []
    assert (time.perf_counter() - started) / 20 < 0.005
