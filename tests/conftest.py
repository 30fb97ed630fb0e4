from __future__ import annotations

from typing import Any

import msgspec
import pytest

from rehabclaim.engine import Engine, decode_visit
from rehabclaim.model import ScrubResult

BASE_VISIT: dict[str, Any] = {
    "id": "t1",
    "date": "2026-06-01",
    "payer": "medicare",
    "discipline": "PT",
    "diagnoses": ["M54.50"],
}


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


def visit_json(**fields: Any) -> bytes:
    return msgspec.json.encode({**BASE_VISIT, **fields})


@pytest.fixture
def scrub(engine: Engine) -> Any:
    def run(**fields: Any) -> ScrubResult:
        return engine.scrub(decode_visit(visit_json(**fields)))

    return run
