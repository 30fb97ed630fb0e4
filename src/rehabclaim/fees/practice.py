"""The practice: where it is paid (MAC and locality), its setting, QP status and charge master.

``data/practice-demo.toml`` is the bundled demo practice, used when no ``--practice FILE`` is given.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

from rehabclaim.datafiles import convert_toml


class Locality(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    mac: str
    number: str


class Practice(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    locality: Locality
    setting: Literal["non-facility", "facility"] = "non-facility"
    qualifying_apm_participant: bool = False
    charges: dict[str, Decimal] = {}
    origin: str = ""


def load_practice(path: Path | None = None) -> Practice:
    if path is None:
        return demo_practice()
    practice = convert_toml(path.read_text(encoding="utf-8"), Practice, str(path))
    return msgspec.structs.replace(practice, origin=str(path))


@cache
def demo_practice() -> Practice:
    text = resources.files("rehabclaim.data").joinpath("practice-demo.toml").read_text(encoding="utf-8")
    return msgspec.structs.replace(convert_toml(text, Practice, "practice-demo.toml"), origin="practice-demo.toml")
