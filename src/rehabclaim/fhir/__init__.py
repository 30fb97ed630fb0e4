"""FHIR R4: visits in from an EMR's Bundle (``importer``) and a scrubbed visit out as a Claim (``claim``).

FHIR is parsed and validated with ``fhir.resources.R4B`` (R4B models read R4 content for every resource used
here; the package root is R5, which rejects R4 Encounters: never import from it). The code system URIs and
code mappings are data (``data/fhir-therapy.toml``), with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from rehabclaim.datafiles import load_toml

MAPPING_FILE = "fhir-therapy.toml"


@dataclass(frozen=True, slots=True)
class Role:
    """A clinician's role: the discipline it practises and whether it is an assistant's (PTA, OTA)."""

    discipline: str
    assistant: bool


@dataclass(frozen=True, slots=True)
class FhirTables:
    """``data/fhir-therapy.toml``: code system URIs by name, and the code mappings."""

    systems: dict[str, tuple[str, ...]]
    minutes_extensions: frozenset[str]
    service_types: dict[str, str]  # service-type code -> discipline
    role_codes: dict[str, Role]  # NUCC taxonomy code -> role
    role_texts: dict[str, Role]  # a role's whole text, lower case -> role
    payer_types: dict[str, str]  # Source of Payment Typology code -> payer key

    def system(self, name: str) -> str:
        """The URI written for ``name`` (the first listed)."""
        return self.systems[name][0]

    def is_system(self, name: str, uri: str | None) -> bool:
        return uri is not None and uri in self.systems[name]


@cache
def fhir_tables() -> FhirTables:
    """The mapping tables (a package data file that never changes at run time: read once)."""
    raw = load_toml(MAPPING_FILE)
    role_codes: dict[str, Role] = {}
    role_texts: dict[str, Role] = {}
    for row in raw["role"]:
        role = Role(str(row["discipline"]), bool(row["assistant"]))
        role_codes.update(dict.fromkeys((str(code) for code in row["codes"]), role))
        role_texts.update(dict.fromkeys((str(text).lower() for text in row["texts"]), role))
    systems: dict[str, Any] = raw["systems"]
    return FhirTables(
        systems={name: tuple(str(uri) for uri in uris) for name, uris in systems.items()},
        minutes_extensions=frozenset(str(url) for url in raw["minutes_extension"]["urls"]),
        service_types={str(code): str(discipline) for code, discipline in raw["service_type"].items()},
        role_codes=role_codes,
        role_texts=role_texts,
        payer_types={str(code): str(key) for code, key in raw["payer_type"].items()},
    )
