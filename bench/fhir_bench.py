"""What the FHIR Bundle costs a claim batch kept in the ledger (`POST /v1/claims`, the web page), side by side
in one run (CPU seconds; these machines are shared and noisy, read the ratios):

- the batch built with its Bundle beside the same batch without one (``services.claims.build_claims``);
- the Bundle checked once as a whole by the R4B models (what ``claims_bundle`` does) beside each Claim checked
  alone first and then the Bundle (the way before), with a check that both give the same bytes.

    python bench/fhir_bench.py --visits 1000      # the API's default limit per request

The visits are bench/x12_bench.py's claim-ready ones (some are held back, as in real batches).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from x12_bench import claim_ready_visits

from rehabclaim.fhir.claim import checked_claim, claim_json, claims_bundle
from rehabclaim.ledger import open_ledger
from rehabclaim.model import ScrubResult, Visit
from rehabclaim.reference import Reference, load_reference
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.services import claims
from rehabclaim.services.accounts import SYSTEM

CREATED = date(2026, 6, 1)


def cpu(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    result = work()
    return time.process_time() - start, result


def stored_batch(reference: Reference, visits: list[Visit], folder: Path, with_bundle: bool) -> tuple[float, int]:
    """CPU seconds of one batch kept in a new SQLite ledger, and its claim count."""
    ledger = open_ledger(f"sqlite:///{folder / f'ledger-{with_bundle}.sqlite3'}")
    kept = claims._fhir_bundle  # the one seam: a batch without its Bundle, for comparison
    if not with_bundle:
        claims._fhir_bundle = lambda reference, visits: None  # type: ignore[assignment,return-value]
    try:
        seconds, batch = cpu(
            lambda: claims.build_claims(
                ledger, reference=reference, visits=visits, actor=SYSTEM, destination=claims.TO_LEDGER
            )
        )
    finally:
        claims._fhir_bundle = kept
        ledger.dispose()
    return seconds, len(batch.report.claims)


def bundle_checks(reference: Reference, pairs: list[tuple[Visit, ScrubResult]]) -> tuple[float, float, bool]:
    def resources() -> list[dict[str, Any]]:
        settings = reference.practice.claims
        return [claim_json(v, r, catalog=reference.catalog, settings=settings, created=CREATED) for v, r in pairs]

    each, before = cpu(lambda: msgspec.json.encode(claims_bundle([checked_claim(c) for c in resources()])))
    whole, now = cpu(lambda: msgspec.json.encode(claims_bundle(resources())))
    return each, whole, before == now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reference = load_reference()
    with tempfile.TemporaryDirectory(prefix="fhir-bench-") as name:
        folder = Path(name)
        source = folder / "visits.jsonl"
        claim_ready_visits(args.visits, source)
        visits = [decode_visit(line) for line in source.read_bytes().splitlines() if line.strip()]
        engine = Scrubber(reference)
        pairs = [(v, r) for v in visits if not (r := engine.scrub(v, for_claim=True)).has_error]
        for round_ in range(1, args.rounds + 1):
            without, count = stored_batch(reference, visits, folder / f"r{round_}a", with_bundle=False)
            with_, _ = stored_batch(reference, visits, folder / f"r{round_}b", with_bundle=True)
            each, whole, same = bundle_checks(reference, pairs)
            print(
                f"round {round_}: {len(visits)} visits, {count} claims kept: without the Bundle {without:.2f} s, "
                f"with it {with_:.2f} s ({with_ / without:.2f}x); the Bundle checked whole {whole:.2f} s, "
                f"each Claim first {each:.2f} s ({whole / each:.2f}x), same bytes: {same}"
            )


if __name__ == "__main__":
    main()
