"""Seeded generator of realistic therapy visits, one JSON object per line.

    python bench/generate.py 100000 bench/out/visits.jsonl --seed 7

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


def visit(rng: random.Random, number: int, start: date) -> dict[str, Any]:
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
    return record


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


def generate(count: int, path: Path, seed: int = 7) -> Path:
    rng = random.Random(seed)
    start = date(2026, 4, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for number in range(1, count + 1):
            out.write(json.dumps(visit(rng, number, start), separators=(",", ":")) + "\n")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    generate(args.count, args.path, args.seed)
