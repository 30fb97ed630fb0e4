from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rehabclaim.diagnoses import diagnosis_index, icd10

IN_FORCE = date(2026, 6, 1)  # the April 2026 release simple-icd-10-cm 1.5.0 ships is in force


def test_index_knows_billable_and_category_codes() -> None:
    codes = diagnosis_index().on(IN_FORCE)
    assert codes.exact
    assert all(codes.verdict(c) == (True, True) for c in ("M54.50", "m5450", " S72.001A "))
    assert codes.verdict("M54.5") == (False, True)
    assert codes.billable_children("M54.5") == ["M54.50", "M54.51", "M54.59"]
    assert codes.verdict("Z99.999") == (None, True)
    assert codes.base is not None and sum(codes.base.codes.values()) > 70_000


def test_package_release_window_from_data() -> None:
    index = diagnosis_index()
    assert index.on(date(2026, 4, 1)).exact and index.on(date(2026, 9, 30)).exact
    assert not index.on(date(2026, 3, 31)).exact  # the October 2025 release was in force
    assert not index.on(date(2026, 10, 1)).exact  # the FY2027 release is not held


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
