"""ICD-10-CM diagnosis checks against the code set shipped by ``simple-icd-10-cm``."""

from rehabclaim.diagnoses.icd10 import DiagnosisIndex, diagnosis_index

__all__ = ["DiagnosisIndex", "diagnosis_index"]
