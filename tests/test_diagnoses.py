from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rehabclaim.diagnoses import icd10


def test_index_knows_billable_and_category_codes() -> None:
    index = icd10.diagnosis_index()
    assert index.is_billable("M54.50") and index.is_billable("m5450") and index.is_billable(" S72.001A ")
    assert index.exists("M54.5") and not index.is_billable("M54.5")
    assert index.billable_children("M54.5") == ["M54.50", "M54.51", "M54.59"]
    assert not index.exists("Z99.999")
    assert len([c for c, billable in index.billable_by_code.items() if billable]) > 70_000


def test_release_window_from_data() -> None:
    release = icd10.diagnosis_index().release
    assert release.covers(date(2026, 6, 1))
    assert not release.covers(date(2026, 10, 1))


def test_cached_index_is_built_once_per_package_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REHABCLAIM_CACHE_DIR", str(tmp_path))
    calls = []
    monkeypatch.setattr(icd10, "_derive_index_lines", lambda: calls.append(1) or ["M545\t0", "M5450\t1"])
    path = icd10.cache_dir() / "icd10cm-index-test.tsv"
    first = icd10._read_or_build(path)
    second = icd10._read_or_build(path)
    assert first == second == {"M545": False, "M5450": True}
    assert calls == [1]
    assert not list(tmp_path.glob("*.tmp"))
