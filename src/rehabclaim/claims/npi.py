"""NPI check digit: the Luhn formula over the NPI prefixed with 80840 (the US health industry number)."""

from __future__ import annotations

PREFIX = "80840"
DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit doubled, its two digits added (Luhn)


def luhn_valid(digits: str) -> bool:
    """Whether the Luhn sum of ``digits`` (every second digit from the right doubled) ends in 0."""
    if not digits.isascii():  # other Unicode digits: as ``int`` reads them
        return _luhn_sum([int(char) for char in digits]) % 10 == 0
    return _luhn_sum([ord(char) - 48 for char in digits]) % 10 == 0


def _luhn_sum(values: list[int]) -> int:
    total = 0
    double = False
    for value in reversed(values):
        total += DOUBLED[value] if double else value
        double = not double
    return total


def npi_valid(npi: str) -> bool:
    """Ten digits whose last is the Luhn check digit of 80840 + the first nine (1234567893 is valid)."""
    return len(npi) == 10 and npi.isdigit() and luhn_valid(PREFIX + npi)
