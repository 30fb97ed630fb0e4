"""837P writing and 835 reading throughput, beside pyx12's loop-aware reader and oxedi.

    python bench/x12_bench.py [--claims 100000] [--pyx12-claims 1000]

Each figure comes from its own process (so peak memory is that run's): writing an 837P for N generated
visits end to end (scrub, claim rules, build, render, write), rendering the same claims alone, reading a
synthetic balanced 835 of N claims with our reader, with oxedi on the same file, and with pyx12's
loop-aware reader on an N-claim slice (it reads only a few hundred claims/s). Goal (issue #5): read at
least 50,000 claims/s into the full model and write at least 50,000 claims/s.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal as D
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
from generate import visit  # noqa: E402

MAKE_835 = """
import sys
sys.path.insert(0, sys.argv[3])
from x12_bench import remit_835_text
open(sys.argv[2], "w").write(remit_835_text(int(sys.argv[1])))
"""


def remit_835_text(count: int, seed: int = 11) -> str:
    """A balanced 835 paying ``count`` seeded claims of 1-4 therapy lines (some denied, some with remarks):
    the file the 835 read is timed on (and, smaller, tests/test_x12_835_identity.py's)."""
    from rehabclaim.x12.synthetic import PaidClaim, PaidLine, remittance_835

    rng = random.Random(seed)
    codes = ["97110", "97112", "97140", "97530", "97116", "97535", "97010"]

    def claims() -> Iterator[PaidClaim]:
        for i in range(count):
            lines = []
            for _ in range(rng.randint(1, 4)):
                units = rng.randint(1, 3)
                modifiers = ("GP", "KX") if rng.random() < 0.3 else ("GP", "CQ") if rng.random() < 0.1 else ("GP",)
                denied = "97" if rng.random() < 0.03 else None
                code = rng.choice(codes)
                remark = "N362" if rng.random() < 0.05 else None  # drawn after the code, as the file always was
                lines.append(
                    PaidLine(
                        code,
                        modifiers,
                        D(65 * units),
                        units,
                        D(20 * units),
                        D(9 * units),
                        denied=denied,
                        remark=remark,
                    )
                )
            yield PaidClaim(f"V{i:08d}", tuple(lines))

    return remittance_835(claims())


READ_OURS = """
import json, resource, sys, time
from rehabclaim.x12.remit835 import read_835
data = open(sys.argv[1], "rb").read()
started = time.perf_counter()
remittance = read_835(data)
seconds = time.perf_counter() - started
lines = sum(len(c.lines) for c in remittance.claims)
adjustments = sum(len(l.adjustments) for c in remittance.claims for l in c.lines)
print(json.dumps({"claims": len(remittance.claims), "seconds": seconds, "bytes": len(data),
                  "detail": f"{lines} lines, {adjustments} line adjustments, balanced={remittance.balanced}",
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

READ_OXEDI = """
import json, os, resource, sys, time
import oxedi
started = time.perf_counter()
result = oxedi.parse_file(sys.argv[1])
claims = result.count_claims()
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"claims": claims, "seconds": seconds, "bytes": os.path.getsize(sys.argv[1]),
                  "detail": "oxedi typed tables", "peak_mb": peak}))
"""

READ_PYX12 = """
import io, json, resource, sys, time
import pyx12.error_handler, pyx12.params, pyx12.x12context
text = open(sys.argv[1]).read()
started = time.perf_counter()
reader = pyx12.x12context.X12ContextReader(pyx12.params.params(), pyx12.error_handler.errh_null(), io.StringIO(text))
claims = 0
for node in reader.iter_segments("2100"):
    if node.id == "2100":
        claims += 1
        [line.get_value("SVC02") for line in node.select("2110")]
seconds = time.perf_counter() - started
print(json.dumps({"claims": claims, "seconds": seconds, "bytes": len(text), "detail": "loop-aware reader",
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

WRITE = """
import json, resource, sys, time
from datetime import UTC, datetime
from pathlib import Path
from rehabclaim.claims.run import write_claims
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.ledger import open_ledger
visits = [decode_visit(line) for line in open(sys.argv[1], "rb")]
engine = Scrubber()
ledger = open_ledger(f"sqlite:///{sys.argv[2]}")
started = time.perf_counter()
run = write_claims(visits, engine, ledger, Path(sys.argv[3]), now=datetime(2026, 6, 2, tzinfo=UTC))
seconds = time.perf_counter() - started
mode = sys.argv[4]
if mode == "render":
    from rehabclaim.x12 import claim837
    interchange_claims = tuple(run.written)
    started = time.perf_counter()
    text = claim837.Interchange("SENDER", "RECEIVER", 1, 1, 1, datetime(2026, 6, 2, tzinfo=UTC),
        claim837.Submitter("A", "BB", "C", "1"), claim837.Receiver("R", "R1"),
        claim837.BillingProvider("B", "1234567893", "1", claim837.Address("1 MAIN", "RALEIGH", "NC", "276011234")),
        interchange_claims).render()
    seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"claims": len(run.written), "seconds": seconds, "bytes": Path(sys.argv[3]).stat().st_size,
                  "detail": f"{len(run.held_back)} held back", "peak_mb": peak}))
"""


def measure(code: str, *args: str) -> dict[str, float | str]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def claim_ready_visits(count: int, path: Path) -> None:
    rng = random.Random(5)
    address = {"line1": "12 Oak St", "city": "Raleigh", "state": "NC", "zip": "27601"}
    patient = {
        "first_name": "Ana",
        "last_name": "Diaz",
        "birth_date": "1950-04-12",
        "sex": "F",
        "member_id": "1EG4TE5MK73",
        "address": address,
    }
    with path.open("w") as out:
        written = 0
        while written < count:
            record = visit(rng, written + 1, date(2026, 4, 1))
            record["patient"] = {**record["patient"], **patient}
            record["payer"] = "medicare"
            record["diagnoses"] = [d for d in record["diagnoses"] if d != "M54.5"] or ["M54.50"]
            record["services"] = [
                {**s, "distinct": True}
                for s in record["services"]
                if s["code"] not in ("97762", "97130", "97760", "97035")
                and not (s["code"] == "97110" and "minutes" not in s)
            ]
            record.pop("initial_orthotic_encounter", None)
            record["plan_of_care"] = {"certified_from": "2026-03-01", "certified_through": "2026-12-31"}
            if not record["services"]:
                continue
            out.write(json.dumps(record) + "\n")
            written += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--pyx12-claims", type=int, default=1_000)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    remit = OUT / f"remit-{args.claims}.835"
    small = OUT / f"remit-{args.pyx12_claims}.835"
    for path, count in ((remit, args.claims), (small, args.pyx12_claims)):
        if not path.exists():
            subprocess.run([sys.executable, "-c", MAKE_835, str(count), str(path), str(HERE)], check=True)
    visits = OUT / f"claim-visits-{args.claims}.jsonl"
    if not visits.exists():
        claim_ready_visits(args.claims, visits)
    rows = []
    for name, mode in (("837P end to end (scrub+build+render)", "end"), ("837P render from typed claims", "render")):
        database = OUT / f"ledger-{mode}.sqlite3"
        database.unlink(missing_ok=True)
        rows.append((name, measure(WRITE, str(visits), str(database), str(OUT / f"claims-{mode}.x12"), mode)))
    rows.append(("835 read, rehabclaim (full model)", measure(READ_OURS, str(remit))))
    rows.append(("835 read, oxedi (same file)", measure(READ_OXEDI, str(remit))))
    rows.append((f"835 read, pyx12 ({args.pyx12_claims}-claim slice)", measure(READ_PYX12, str(small))))
    print(f"{'run':<42}{'claims':>9}{'claims/s':>11}{'MB/s':>8}{'peak MB':>9}  detail")
    for name, figures in rows:
        seconds = float(figures["seconds"])
        print(
            f"{name:<42}{figures['claims']:>9}{float(figures['claims']) / seconds:>11,.0f}"
            f"{float(figures['bytes']) / 1e6 / seconds:>8.1f}{float(figures['peak_mb']):>9.0f}  {figures['detail']}"
        )


if __name__ == "__main__":
    main()
