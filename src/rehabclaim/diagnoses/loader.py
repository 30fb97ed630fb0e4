"""Builds the diagnosis index an ``Engine`` holds: every release held, the calendar and the dated changes."""

from __future__ import annotations

from pathlib import Path

from rehabclaim.diagnoses.codeset import DiagnosisIndex, Release
from rehabclaim.diagnoses.icd10 import PACKAGE, cache_dir, package_index, package_version
from rehabclaim.diagnoses.orderfile import KIND, drop_in_releases
from rehabclaim.diagnoses.releases import ReleaseCalendar, bundled_calendar, bundled_changes
from rehabclaim.settings import drop_in_files


def diagnosis_index(cache: Path | None = None) -> DiagnosisIndex:
    """The package's release and the CMS order files in the rules folder's ``icd10/`` (a drop-in file
    replaces the package's release when both take effect on the same date), with the bundled calendar and
    dated changes. Each release's codes come from the disk cache; nothing is kept between calls, so the
    caller (the Engine) holds the result."""
    folder = cache or cache_dir()
    calendar = bundled_calendar()
    changes = bundled_changes(calendar)
    dropped = drop_in_releases(drop_in_files(KIND), calendar, folder)
    taken = {release.effective for release in dropped}
    package = package_release(calendar, folder)
    releases = [*dropped, *([package] if package is not None and package.effective not in taken else [])]
    return DiagnosisIndex(releases, calendar, changes)


def package_release(calendar: ReleaseCalendar, folder: Path) -> Release | None:
    """The release simple-icd-10-cm ships; undated when ``icd10cm.toml`` does not record its version."""
    installed = package_version()
    if installed is None:
        return None
    dated = calendar.package.get(installed)
    if dated is None:
        return Release(
            f"{PACKAGE} {installed} (release date not recorded in icd10cm.toml)", None, package_index(folder, installed)
        )
    title = calendar.name_on(dated.effective) or f"ICD-10-CM release of {dated.effective}"
    return Release(f"{title} ({PACKAGE} {installed})", dated.effective, package_index(folder, installed))
