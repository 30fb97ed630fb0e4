"""Writing a file whole or not at all: a temporary file beside the target, flushed to disk, then renamed.

The temporary file's name carries the writer's process id (``.<name>.<pid>.<random>.tmp``), so a later run
can find temporaries left by a process that was killed (``remove_stale_temporaries``) and delete them
without touching those of a writer that is still running.

Files that hold patient data are created owner-only (0600) whatever the umask; others get the usual
mode (0666 less the umask), like any file a program creates.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

PRIVATE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]+)\.[A-Za-z0-9_]+\.tmp$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def _remove_temporaries(target: Path, whose: Callable[[int], bool]) -> list[Path]:
    """Delete the temporaries of ``target`` whose writer's pid ``whose`` accepts; the paths removed."""
    removed: list[Path] = []
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        return removed
    for candidate in folder.iterdir():
        match = _TEMPORARY.match(candidate.name)
        if match and match["name"] == target.name and whose(int(match["pid"])):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete temporaries of ``target`` left by writers that are no longer running; the paths removed."""
    return _remove_temporaries(target, lambda pid: not pid_alive(pid))


def remove_own_temporaries(target: Path) -> list[Path]:
    """Delete this process's temporaries of ``target``: for a signal handler about to end the process
    without unwinding (so ``atomic_writer`` gets no chance to clean up)."""
    own = os.getpid()
    return _remove_temporaries(target, lambda pid: pid == own)


def make_folder(folder: Path, *, private: bool) -> None:
    """Create ``folder`` and its missing parents. For patient data every level created here is owner-only
    (0700) whatever the umask; a folder that already exists is left as it is (its owner chose its mode)."""
    if not private:
        folder.mkdir(parents=True, exist_ok=True)
        return
    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for level in reversed(missing):
        with contextlib.suppress(FileExistsError):  # a concurrent run made it first: theirs is private too
            level.mkdir(mode=PRIVATE_DIR_MODE)
            os.chmod(level, PRIVATE_DIR_MODE)


@contextmanager
def atomic_writer(target: Path, *, private: bool) -> Iterator[IO[bytes]]:
    """A binary handle on a temporary file that replaces ``target`` when the block ends without an error;
    on any error (or KeyboardInterrupt, SystemExit) the temporary file is removed and ``target`` is left as
    it was. ``private``: the file holds patient data and is made owner-only."""
    make_folder(target.parent, private=private)
    remove_stale_temporaries(target)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, PRIVATE_MODE if private else 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomic(target: Path, data: bytes, *, private: bool) -> None:
    """Write ``data`` to ``target`` whole or not at all (see ``atomic_writer``)."""
    with atomic_writer(target, private=private) as out:
        out.write(data)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file: the same existing file (links and relative paths resolved), or,
    when one is not written yet, the same resolved path (two outputs that would replace each other)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False
