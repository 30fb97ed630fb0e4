"""Where rehabclaim keeps user data and where it looks for drop-in rule files.

- ``REHABCLAIM_DATA_DIR`` (default ``$XDG_DATA_HOME/rehabclaim`` or ``~/.local/share/rehabclaim``): the
  default SQLite ledger lives here.
- ``REHABCLAIM_RULES_DIR`` (default ``<data dir>/rules`` when it exists): files placed here replace or add
  to the bundled samples without a new release: ``payers/*.toml``, ``ncci/*`` (PTP files), ``mue/*`` (MUE
  files), ``pfs/*`` (PPRRVU and GPCI files), in the layouts CMS publishes.
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
    """Files of ``kind`` (a sub-folder) in the drop-in rules folder, sorted by name."""
    folder = rules_dir()
    if folder is None or not (folder / kind).is_dir():
        return []
    return sorted(p for p in (folder / kind).glob(pattern) if p.is_file() and not p.name.startswith("."))
