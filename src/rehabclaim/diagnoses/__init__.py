"""ICD-10-CM diagnosis checks by date of service: the releases held (the one ``simple-icd-10-cm`` ships and
CMS order files dropped in), the release calendar and the dated code changes."""

from rehabclaim.diagnoses.codeset import CodeSetOnDate, DiagnosisIndex, Release, Verdict
from rehabclaim.diagnoses.loader import diagnosis_index

__all__ = ["CodeSetOnDate", "DiagnosisIndex", "Release", "Verdict", "diagnosis_index"]
