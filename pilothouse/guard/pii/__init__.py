"""PII and secret detection: regexes with validators (Luhn, mod-97, allocation rules, entropy)
behind one scanner, an optional Presidio backend for names.

    scanner = PIIScanner(["EMAIL", "CREDIT_CARD"], min_score=0.5)
    scanner.scan("card 4111 1111 1111 1111")  # [Finding(kind="pii", entity="CREDIT_CARD", ...)]
"""

from pilothouse.guard.pii.scanner import KNOWN_ENTITIES, PIIScanner

__all__ = ["KNOWN_ENTITIES", "PIIScanner"]
