"""Responses whose bodies are the bytes the CLI prints: the service's typed result encoded by msgspec (never
re-serialised by pydantic), then a newline, as ``rehabclaim ... --json`` writes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec
from starlette.responses import Response

# Amounts (Decimal) as JSON numbers, as the CLI prints them; results without a Decimal encode as by default.
ENCODERS = {
    "number": msgspec.json.Encoder(decimal_format="number"),
    "string": msgspec.json.Encoder(decimal_format="string"),  # where the CLI's contract has them as strings
}
NDJSON = "application/x-ndjson"
FHIR_JSON = "application/fhir+json"  # FHIR's own JSON media type (R4, http.html#mime-type)


class StructResponse(Response):
    """A msgspec Struct (or a list of them) as JSON; bytes as they are."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        decimals: Literal["number", "string"] = "number",
    ) -> None:
        self.decimals = decimals
        super().__init__(content, status_code=status_code, headers=headers)

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return ENCODERS[self.decimals].encode(content) + b"\n"


class X12Response(Response):
    """An X12 interchange as a download (it holds patient data: never cached)."""

    media_type = "text/plain"
