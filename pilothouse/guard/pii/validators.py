"""Checksums and structural rules that turn a regex match into a confident finding.

Pure functions on already-extracted strings; no regexes over whole texts live here.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
from collections import Counter

# IBAN length per country (ISO 13616 registry); the length check alone rejects most look-alikes.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """The Luhn mod-10 checksum every payment card number carries."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_network(digits: str) -> str | None:
    """The scheme whose IIN range and length match, if any: a known one raises confidence."""
    length = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    three, six = int(digits[:3]), int(digits[:6])
    if digits[0] == "4" and length in (13, 16, 19):
        return "visa"
    if (51 <= two <= 55 or 2221 <= four <= 2720) and length == 16:
        return "mastercard"
    if two in (34, 37) and length == 15:
        return "amex"
    if (four == 6011 or 644 <= three <= 649 or two == 65) and 16 <= length <= 19:
        return "discover"
    if 3528 <= four <= 3589 and 16 <= length <= 19:
        return "jcb"
    if (300 <= three <= 305 or two in (36, 38, 39)) and 14 <= length <= 19:
        return "diners"
    if two == 62 and 16 <= length <= 19:
        return "unionpay"
    if (two in (50, 56, 57, 58, 63, 67) or 639000 <= six <= 639999) and 12 <= length <= 19:
        return "maestro"
    return None


def iban_valid(compact: str) -> bool:
    """ISO 13616: known country, its exact length, and the mod-97 check (remainder 1)."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    # Letters count as 10..35; int(c, 36) does exactly that for digits and letters alike.
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """SSA rules: no area 000, 666 or 900-999, no group 00, no serial 0000."""
    area_number = int(area)
    if area_number == 0 or area_number == 666 or area_number >= 900:
        return False
    if group == "00" or serial == "0000":
        return False
    # Numbers the SSA voided after they were printed in advertising.
    return f"{area}{group}{serial}" not in ("078051120", "219099999")


_NINO_BAD_FIRST = frozenset("DFIQUV")
_NINO_BAD_SECOND = frozenset("DFIOQUV")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def nino_prefix_valid(prefix: str) -> bool:
    """HMRC rules for the two letters of a National Insurance number."""
    return (
        prefix[0] not in _NINO_BAD_FIRST
        and prefix[1] not in _NINO_BAD_SECOND
        and prefix not in _NINO_BAD_PREFIXES
    )


def ipv4_valid(candidate: str) -> bool:
    """Four decimal octets 0-255 without leading zeros (``01.02.03.04`` reads as a date or a version)."""
    parts = candidate.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or int(part) > 255 or (len(part) > 1 and part[0] == "0"):
            return False
    return True


def ipv6_valid(candidate: str) -> bool:
    """Parsed by :mod:`ipaddress`, plus evidence it is an address and not ``a::b`` in C++ or a clock time."""
    if not any(char.isdigit() for char in candidate):
        return False
    if sum(1 for group in candidate.split(":") if group) < 2:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def nanp_valid(area: str, exchange: str) -> bool:
    """North American numbering: area and exchange start 2-9; N11 area codes are service codes."""
    return area[0] not in "01" and exchange[0] not in "01" and area[1:] != "11"


def uk_national_valid(digits: str) -> bool:
    """A UK number dialled nationally: a trunk 0, then 9 or 10 digits of a geographic, mobile or
    non-geographic range (01, 02, 03, 05, 07, 08, 09)."""
    return len(digits) in (10, 11) and digits[0] == "0" and digits[1] in "1235789"


# Country calling codes of two digits; the rest are 1 (NANP), 7 or three digits long.
_TWO_DIGIT_CODES = frozenset({
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
    57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
})  # fmt: skip


def international_valid(digits: str) -> bool:
    """E.164 shape: a plausible country code and 8-15 digits in all; NANP numbers checked fully."""
    if not 8 <= len(digits) <= 15 or digits[0] == "0":
        return False
    if digits[0] == "1":
        return len(digits) == 11 and nanp_valid(digits[1:4], digits[4:7])
    if digits[0] == "7" or int(digits[:2]) in _TWO_DIGIT_CODES:
        return True
    # Three-digit codes live in zones 2, 3, 4, 5, 6, 8 and 9 (never 1 or 7 as a zone of their own).
    return digits[0] in "2345689"


def shannon_entropy(value: str) -> float:
    """Bits per character of the string's own character distribution."""
    length = len(value)
    return -sum(count / length * math.log2(count / length) for count in Counter(value).values())


def char_classes(value: str) -> int:
    """How many of lower, upper, digit and other characters the string mixes."""
    lower = upper = digit = other = 0
    for char in value:
        if char.islower():
            lower = 1
        elif char.isupper():
            upper = 1
        elif char.isdigit():
            digit = 1
        else:
            other = 1
    return lower + upper + digit + other


def class_switch_ratio(value: str) -> float:
    """Share of neighbouring characters of different classes: about 0.6 in random base62, low in
    identifiers such as ``parseHttp2ResponseHeaders`` whose classes come in runs."""

    def klass(char: str) -> int:
        return 0 if char.islower() else 1 if char.isupper() else 2 if char.isdigit() else 3

    classes = [klass(char) for char in value]
    switches = sum(1 for left, right in itertools.pairwise(classes) if left != right)
    return switches / max(1, len(value) - 1)
