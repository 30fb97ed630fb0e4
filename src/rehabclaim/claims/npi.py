"""NPI check digit: the Luhn formula over the NPI prefixed with 80840 (the US health industry number)."""

from __future__ import annotations

PREFIX = "80840"


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def npi_valid(npi: str) -> bool:
    """Ten digits whose last is the Luhn check digit of 80840 + the first nine (1234567893 is valid)."""
    return len(npi) == 10 and npi.isdigit() and luhn_valid(PREFIX + npi)
