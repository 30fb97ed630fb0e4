"""Where rehabclaim keeps user data and where it looks for drop-in rule files.

- ``REHABCLAIM_DATA_DIR`` (default ``$XDG_DATA_HOME/rehabclaim`` or ``~/.local/share/rehabclaim``): the
  default SQLite ledger lives here. It holds patient data: the folders rehabclaim creates for it are 0700
  and the ledger file 0600 (``rehabclaim.ledger.database``); a folder that already exists keeps its mode.
- ``REHABCLAIM_RULES_DIR`` (default ``<data dir>/rules`` when it exists): files placed here replace or add
  to the bundled samples without a new release: ``payers/*.toml``, ``ncci/*`` (PTP files), ``mue/*`` (MUE
  files), ``pfs/*`` (PPRRVU and GPCI files), ``icd10/icd10cm_order_*.txt`` (ICD-10-CM order files, see
  ``rehabclaim.diagnoses.orderfile``), in the layouts CMS publishes.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    explicit = os.environ.get("REHABCLAIM_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rehabclaim"


def rules_dir() -> Path | None:
    explicit = os.environ.get("REHABCLAIM_RULES_DIR")
    if explicit:
        return Path(explicit)
    default = data_dir() / "rules"
    return default if default.is_dir() else None


def drop_in_files(kind: str, pattern: str = "*") -> list[Path]:
    """Files of ``kind`` (a sub-folder) in the drop-in rules folder whose names match ``pattern``, sorted by
    name; folder and file names are compared case-insensitively (``pfs/pprrvu2026.csv`` is read). Anything
    in the rules folder that no kind reads raises DataFileError rather than being silently ignored."""
    from rehabclaim.datafiles import drop_in_listing, matches  # datafiles is the one place kinds are listed

    folder = rules_dir()
    if folder is None:
        return []
    return [path for path in drop_in_listing(folder).get(kind, []) if matches(path.name, pattern)]
