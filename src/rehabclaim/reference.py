"""The reference data a scrub, a fee, a claim or a remittance reads: loaded once and passed in.

One ``Reference`` holds the catalog, the payer matrix, the CMS tables, the thresholds, the Medicare
figures, the practice, the ICD-10-CM releases, the CARC/RARC table and the documentation checklists. A
server loads one per practice and can load a fresh one when drop-in files change (``load_reference`` reads
the files again); tests build one with ``dataclasses.replace`` instead of clearing caches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from rehabclaim.catalog import Catalog, load_catalog
from rehabclaim.catalog.codes import init_values
from rehabclaim.cms.tables import CmsTables, load_cms_tables
from rehabclaim.diagnoses import DiagnosisIndex, diagnosis_index
from rehabclaim.documentation import Checklists, load_checklists
from rehabclaim.fees.medicare_policy import MedicarePayment, medicare_payment
from rehabclaim.payers import PayerPolicy, payer_table
from rehabclaim.payers.policy import DEFAULT_KEY
from rehabclaim.practice import Practice, load_practice
from rehabclaim.remits.codes import CodeTable, code_table
from rehabclaim.thresholds import Thresholds, load_thresholds

PAYER_NAMES_KEPT = 4096  # payers not configured, remembered by name (names come from input: bounded)


@dataclass(frozen=True, slots=True)
class Reference:
    catalog: Catalog
    payers: Mapping[str, PayerPolicy]  # by lower-case key, the default profile under DEFAULT_KEY
    cms: CmsTables
    thresholds: Thresholds
    medicare: MedicarePayment
    practice: Practice
    diagnoses: DiagnosisIndex
    remit_codes: CodeTable
    documentation: Checklists  # the per-code documentation checklists (rule family T)
    # not an init field, so dataclasses.replace (a new payer table, say) starts with an empty one
    _unconfigured: dict[str, PayerPolicy] = field(init=False, default_factory=dict, compare=False, repr=False)

    def payer(self, name: str) -> PayerPolicy:
        """The policy for ``name`` (case-insensitive); a payer not configured gets the default profile under
        its own name."""
        key = name.strip().lower()
        found = self.payers.get(key)
        if found is not None and key != DEFAULT_KEY:
            return found
        policy = self._unconfigured.get(key)
        if policy is None:
            policy = msgspec.structs.replace(self.payers[DEFAULT_KEY], key=key, configured=False)
            if len(self._unconfigured) < PAYER_NAMES_KEPT:
                self._unconfigured[key] = policy
        return policy

    def __reduce__(self) -> tuple[type[Reference], tuple[Any, ...]]:
        return Reference, init_values(self)  # Spark broadcasts it by pickle; the payer names start empty

    def configured_payers(self) -> list[PayerPolicy]:
        return [policy for key, policy in sorted(self.payers.items()) if key != DEFAULT_KEY]


def load_reference(practice: Path | None = None) -> Reference:
    """Every reference table, read from the package and the drop-in rules folder now; ``practice`` is a
    practice file (the bundled demo when None). A bad file raises DataFileError naming it."""
    return Reference(
        catalog=load_catalog(),
        payers=payer_table(),
        cms=load_cms_tables(),
        thresholds=load_thresholds(),
        medicare=medicare_payment(),
        practice=load_practice(practice),
        diagnoses=diagnosis_index(),
        remit_codes=code_table(),
        documentation=load_checklists(),
    )
