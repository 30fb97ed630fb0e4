"""CARC and RARC meanings and the next step for each, from ``data/carc-rarc.toml``."""

from __future__ import annotations

from importlib import resources
from typing import Literal

import msgspec

from rehabclaim.datafiles import convert_toml

Kind = Literal["contractual", "patient", "denial", "info"]


class Carc(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    meaning: str
    kind: Kind
    next_step: str
    status: str


class Rarc(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    meaning: str
    status: str


class CodeTable(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    carc: dict[str, Carc]
    rarc: dict[str, Rarc]

    def explain(self, group: str, reason: str) -> tuple[str, Kind, str]:
        """Meaning, kind and next step of an adjustment. The group decides who owes it: PR is the patient's;
        CO/PI with an unknown reason is a write-off to review."""
        carc = self.carc.get(reason)
        meaning = carc.meaning if carc else f"reason {reason} (not in carc-rarc.toml: check the X12 CARC list)"
        if group == "PR":
            return meaning, "patient", "bill the patient"
        if carc is None:
            return meaning, "denial", "review"
        return meaning, carc.kind, carc.next_step

    def remark(self, code: str) -> str:
        found = self.rarc.get(code)
        return found.meaning if found else f"remark {code} (not in carc-rarc.toml)"


def code_table() -> CodeTable:
    """The bundled table, read now (``load_reference`` keeps it: no module cache)."""
    text = resources.files("rehabclaim.data").joinpath("carc-rarc.toml").read_text(encoding="utf-8")
    return convert_toml(text, CodeTable, "carc-rarc.toml")
