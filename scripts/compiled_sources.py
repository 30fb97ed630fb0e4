"""The digest of what scripts/compile builds from: every .py under src/rehabclaim, scripts/compile (its module
list) and the compiler's and Python's versions. Equal to build/mypyc/sources.sha256 exactly when the compiled
extensions beside the sources are those of these sources."""

import hashlib
import platform
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sources_digest() -> str:
    digest = hashlib.sha256(f"{platform.python_version()} mypy {version('mypy')}\n".encode())
    for path in sorted([*(ROOT / "src" / "rehabclaim").rglob("*.py"), ROOT / "scripts" / "compile"]):
        digest.update(f"{path.relative_to(ROOT)}\n".encode() + path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    sys.stdout.write(sources_digest() + "\n")
