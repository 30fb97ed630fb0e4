"""Seeded generator of realistic therapy visits, one JSON object per line.

    python bench/generate.py 100000 bench/out/visits.jsonl --seed 7
    python bench/generate.py 100000 bench/out/claims.jsonl --claims   # claim-ready (`rehabclaim claim`)

Mixes disciplines, payers (Medicare, per-code commercial, unconfigured), evaluations, timed procedures,
modalities, assistants, orthotic visits with devices, and a few visits with common billing mistakes
(a diagnosis category code, 97762, a timed code without minutes), so every rule family does real work.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

PAYERS = ["medicare"] * 6 + ["sample_per_code"] * 2 + ["sample_medicaid", "acme health"]
PROCEDURES = {
    "PT": ["97110", "97112", "97116", "97140", "97530", "97035", "97032"],
    "OT": ["97110", "97530", "97535", "97537", "97112", "97140"],
    "SLP": ["97129", "97130", "92526"],
}
EVALUATIONS = {"PT": ["97161", "97162", "97163", "97164"], "OT": ["97165", "97166", "97167"], "SLP": ["92523"]}
UNTIMED = {"PT": ["97010", "97014", "97012", "97016"], "OT": ["97010", "97018"], "SLP": ["92507"]}
DIAGNOSES = {
    "PT": ["M54.50", "M25.561", "M17.11", "S83.511A", "M62.81", "R26.89", "M75.101", "S72.001D", "G81.91"],
    "OT": ["M21.331", "S62.101D", "I69.351", "M19.041", "G56.01", "M65.4", "S52.501D"],
    "SLP": ["R13.12", "I69.320", "R47.01", "F80.0", "R41.841"],
}
MISTAKES = ["category", "deleted", "no_minutes", "later_encounter"]
# Claim data (--claims): sample names and addresses; NPIs with a valid Luhn check digit (synthetic)
CLAIM_PAYERS = ["medicare"] * 6 + ["sample_per_code"] * 2 + ["sample_medicaid"]
LAST_NAMES = ["DIAZ", "PARK", "NGUYEN", "SMITH", "OKAFOR", "JOHANSSON", "COHEN", "ROSSI"]
FIRST_NAMES = ["ANA", "LEO", "MAYA", "SAM", "IVY", "OMAR", "ZOE", "ELI"]
CITIES = [("RALEIGH", "NC", "27601"), ("DURHAM", "NC", "27701"), ("CARY", "NC", "27511")]
THERAPIST_NPIS = ["1987654328", "1234567893"]


def visit(rng: random.Random, number: int, start: date, claims: bool = False) -> dict[str, Any]:
    discipline = rng.choices(["PT", "OT", "SLP"], weights=[6, 3, 1])[0]
    services: list[dict[str, Any]] = []
    if rng.random() < 0.15:
        services.append({"code": rng.choice(EVALUATIONS[discipline])})
    for code in rng.sample(PROCEDURES[discipline], k=min(len(PROCEDURES[discipline]), rng.randint(1, 4))):
        service: dict[str, Any] = {"code": code, "minutes": rng.randint(5, 40)}
        if rng.random() < 0.2:
            service["assistant_minutes"] = rng.randint(0, service["minutes"])
        services.append(service)
    if rng.random() < 0.3:
        services.append({"code": rng.choice(UNTIMED[discipline])})
    record: dict[str, Any] = {
        "id": f"V{number:08d}",
        "date": (start + timedelta(days=rng.randint(0, 120))).isoformat(),
        "payer": rng.choice(PAYERS),
        "discipline": discipline,
        "rendered_by": "assistant" if rng.random() < 0.1 else "therapist",
        "diagnoses": rng.sample(DIAGNOSES[discipline], k=rng.randint(1, 2)),
        "patient": {"id": f"P{rng.randint(1, 20000):06d}"},
        "services": services,
    }
    if discipline in ("PT", "OT") and rng.random() < 0.08:
        record["initial_orthotic_encounter"] = True
        services.append(
            {
                "code": "97760",
                "minutes": rng.randint(10, 30),
                "training_minutes": rng.randint(5, 20),
                "body_region": "lower" if discipline == "PT" else "upper",
            }
        )
        services.append({"code": "L1906" if discipline == "PT" else "L3809", "units": 1})
    if rng.random() < 0.05:
        add_mistake(rng, record)
    if claims:
        add_claim_data(rng, record, date.fromisoformat(record["date"]))
    return record


def person(rng: random.Random, born: date) -> dict[str, Any]:
    city, state, zip_code = rng.choice(CITIES)
    return {
        "first_name": rng.choice(FIRST_NAMES),
        "last_name": rng.choice(LAST_NAMES),
        "birth_date": born.isoformat(),
        "sex": rng.choice("FM"),
        "address": {"line1": f"{rng.randint(1, 999)} OAK ST", "city": city, "state": state, "zip": zip_code},
    }


def add_claim_data(rng: random.Random, record: dict[str, Any], day: date) -> None:
    """What an 837P needs beyond the scrub (as the demo claims example holds): the patient's name, birth
    date, sex, address and member id (or a subscriber's, for a child), the rendering therapist, a plan of care."""
    record["payer"] = rng.choice(CLAIM_PAYERS)
    patient_id = record["patient"]["id"]
    child = record["payer"] == "sample_medicaid" and rng.random() < 0.5
    born = date(2015 if child else 1950, 1, 1) + timedelta(days=rng.randint(0, 3000))
    record["patient"] = {"id": patient_id, **person(rng, born)}
    if child:
        record["subscriber"] = {
            **person(rng, date(1980, 1, 1) + timedelta(days=rng.randint(0, 3000))),
            "member_id": f"MCD{rng.randint(10000, 99999)}",
            "relationship": "19",
        }
    else:
        record["patient"]["member_id"] = f"1EG4TE5MK{rng.randint(10, 99)}"
    therapist = rng.choice(THERAPIST_NPIS)
    record["rendering_provider"] = {"npi": therapist, "first_name": rng.choice(FIRST_NAMES), "last_name": "PARK"}
    if record["payer"] == "sample_per_code":
        record["authorization"] = {
            "number": f"AUTH{rng.randint(1000, 9999)}",
            "from": day.isoformat(),
            "through": (day + timedelta(60)).isoformat(),
            "units": 200,
        }
        record["services"] = record["services"][:2]  # within the plan's units a visit
    for service in record["services"]:
        if service["code"] in ("97140", "97530"):
            service["distinct"] = True  # separate time blocks, documented (a distinct-service modifier)
        if service["code"] == "97014" and record["payer"] == "medicare":
            service["code"] = "97010"
    since = day - timedelta(days=rng.randint(0, 30))
    record["plan_of_care"] = {
        "certified_from": since.isoformat(),
        "certified_through": (since + timedelta(89)).isoformat(),
    }


def add_mistake(rng: random.Random, record: dict[str, Any]) -> None:
    mistake = rng.choice(MISTAKES)
    if mistake == "category":
        record["diagnoses"] = ["M54.5"]
    elif mistake == "deleted" and record["discipline"] != "SLP":
        record["services"].append({"code": "97762", "minutes": 15})
    elif mistake == "no_minutes":
        record["services"].append({"code": "97110"})
    elif record["discipline"] != "SLP":
        record["initial_orthotic_encounter"] = False
        record["services"].append({"code": "97760", "minutes": 20})


def generate(count: int, path: Path, seed: int = 7, claims: bool = False) -> Path:
    rng = random.Random(seed)
    start = date(2026, 4, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for number in range(1, count + 1):
            out.write(json.dumps(visit(rng, number, start, claims), separators=(",", ":")) + "\n")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--claims", action="store_true", help="claim-ready visits (patient, therapist, plan of care)")
    args = parser.parse_args()
    generate(args.count, args.path, args.seed, args.claims)
