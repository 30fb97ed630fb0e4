"""The read-side services (scrub, catalog, fees, payers, rules, patients) and the CLI commands over them.

The CLI prints the services' results: the same bytes for the same input, on the bundled examples. Each
result's JSON keeps the field names and order the CLI printed before the services existed (a contract:
fields are added, never renamed). Refusals name the field the CLI's message names, and the CLI prints them
as they are. ``scrub_lines`` streams; ``patient_state`` adds the patient page's figures, counted the way
the rules count them, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner, Result

from rehabclaim.cli.main import app
from rehabclaim.ledger.database import open_ledger
from rehabclaim.ledger.history import LedgerHistory
from rehabclaim.ledger.state import patient_state as ledger_record_dict
from rehabclaim.model import Patient, Visit
from rehabclaim.reference import Reference, load_reference
from rehabclaim.scrubber import decode_visit, encode_result
from rehabclaim.services import BadInput, NotFound, Refusal, catalog, fees, patients, payers, rules, scrub
from rehabclaim.services.actor import terminal_actor
from rehabclaim.services.visits import post_visit

EXAMPLES = resources.files("rehabclaim.data").joinpath("examples")
runner = CliRunner()


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "2000"})


def cli_json(*args: str) -> bytes:
    """What ``rehabclaim ARGS --json`` prints (one JSON document and a newline), exit status 0 or 1."""
    result = cli(*args, "--json")
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
    return result.stdout_bytes


def encoded(value: Any) -> bytes:
    return msgspec.json.encode(value) + b"\n"


def keys(document: bytes) -> list[str]:
    return list(json.loads(document))


def example_lines() -> list[bytes]:
    return EXAMPLES.joinpath("visits.jsonl").read_bytes().splitlines(keepends=True)


# --- the CLI prints the services' bytes, in the shapes it printed before ---------------------------------


CODE_FIELDS = [
    "code",
    "kind",
    "category",
    "description",
    "timed",
    "therapy",
    "disciplines",
    "effective",
    "end",
    "replaced_by",
    "addon_of",
    "encounter",
    "subsequent_code",
    "keywords",
    "evaluation",
    "evaluation_group",
    "min_age_years",
    "minutes_per_unit",
    "source",
]


def test_code_facts_are_what_code_json_prints_for_every_catalog_code(reference: Reference) -> None:
    for known in ("97760", "97110", "97010", "L1906", "0772T"):
        facts = catalog.code_facts(reference, code=known)
        assert cli_json("code", known) == encoded(facts)
        assert keys(encoded(facts)) == CODE_FIELDS
    deleted = next(code for code in reference.catalog.codes.values() if code.end is not None)
    document = json.loads(cli_json("code", deleted.code))
    assert document["end"] == deleted.end.isoformat() and document["replaced_by"] == deleted.replaced_by


def test_search_hits_are_what_search_json_prints(reference: Reference) -> None:
    hits = catalog.search_codes(reference, query="orthotic training", limit=10)
    assert hits[0].code == "97760"
    assert cli_json("search", "orthotic training") == encoded(hits)
    assert cli_json("search", "therex", "--limit", "3") == encoded(
        catalog.search_codes(reference, query="therex", limit=3)
    )
    assert list(json.loads(encoded(hits))[0]) == ["code", "score", "description", "matched", "end", "replaced_by"]


@pytest.mark.parametrize("method", ["cms", "per-code"])
def test_units_are_what_units_json_prints(reference: Reference, method: str) -> None:
    pairs = ["97110=33", "97140=7", "97760=20", "L1906=1"]
    plan = catalog.units(reference, services=catalog.parse_pairs(pairs), method=method)
    assert cli_json("units", *pairs, "--method", method) == encoded(plan)
    document = json.loads(encoded(plan))
    assert list(document) == ["method", "total_timed_minutes", "total_timed_units", "lines"]
    assert list(document["lines"][0]) == ["code", "units", "minutes", "why"]
    assert (document["method"], document["total_timed_minutes"]) == (method, 60)


def test_scrub_and_demo_print_the_scrub_service_results(reference: Reference, tmp_path: Path) -> None:
    data = EXAMPLES.joinpath("visits.jsonl").read_bytes()
    visits = scrub.read_visits(data, reference=reference, json_lines=True)
    expected = b"".join(encode_result(scrub.scrub_visit(reference, visit=visit)) + b"\n" for visit in visits)
    path = tmp_path / "visits.jsonl"
    path.write_bytes(data)
    assert cli_json("scrub", str(path)) == expected
    assert cli_json("demo") == expected
    assert b"".join(scrub.scrub_lines(reference, lines=example_lines())) == expected  # the API's batch, too
    one = tmp_path / "one.json"
    one.write_bytes(data.splitlines()[0])
    assert cli_json("scrub", str(one)) == expected.splitlines(keepends=True)[0]


def test_rules_are_what_rules_json_prints() -> None:
    listed = rules.list_rules()
    assert cli_json("rules") == encoded(listed)
    assert list(json.loads(encoded(listed))[0]) == ["id", "name", "severity", "summary", "family", "doc"]
    one = rules.rule(rule_id="r001")
    assert one.id == "R001" and "progress report" in one.doc and one == next(r for r in listed if r.id == "R001")


def test_payers_are_what_payers_json_prints(reference: Reference) -> None:
    summaries = payers.list_payers(reference)
    assert cli_json("payers") == encoded(summaries)
    assert [s.key for s in summaries] == ["medicare", "sample_bundling_hmo", "sample_medicaid", "sample_per_code"]
    assert list(json.loads(encoded(summaries))[0]) == ["key", "name", "sample", "unit_method", "origin"]
    for key in (*(s.key for s in summaries), "default"):
        assert cli_json("payer", key) == encoded(payers.payer(reference, key=key))
    assert payers.payer(reference, key=" Medicare ").key == "medicare"


def test_fee_is_what_fee_json_prints(reference: Reference) -> None:
    result = fees.fee(reference, code="97110", year=2026, locality="11502:00", units=3)
    assert cli_json("fee", "97110", "--year", "2026", "--locality", "11502:00", "--units", "3") == encoded(result)
    assert list(json.loads(encoded(result))) == [
        "code",
        "date",
        "locality",
        "per_unit",
        "pe_payment",
        "mppr_percent",
        "further_unit",
        "units",
        "total",
        "why",
        "therapy_mppr",
    ]
    assert (result.per_unit, result.further_unit, result.total) == (28.02, 21.63, 71.28)  # the README's NC figures
    on_date = fees.fee(reference, code="97110", day=date(2026, 8, 3), units=2)
    assert on_date == fees.fee(reference, code="97110", day="2026-08-03", units=2)
    assert cli_json("fee", "97110", "--date", "2026-08-03", "--units", "2") == encoded(on_date)


def test_services_read_the_reference_they_are_given(reference: Reference) -> None:
    without = dataclasses.replace(
        reference.catalog, codes={k: v for k, v in reference.catalog.codes.items() if k != "97760"}
    )
    smaller = dataclasses.replace(
        reference, catalog=without, payers={k: v for k, v in reference.payers.items() if k in ("default", "medicare")}
    )
    with pytest.raises(NotFound):
        catalog.code_facts(smaller, code="97760")
    assert all(hit.code != "97760" for hit in catalog.search_codes(smaller, query="orthotic training"))
    assert [s.key for s in payers.list_payers(smaller)] == ["medicare"]
    moved = dataclasses.replace(reference, practice=msgspec.structs.replace(reference.practice, locality=_la()))
    assert fees.fee(moved, code="97110").locality == "01182:18"
    visit = decode_visit(example_lines()[0])
    here, there = (scrub.scrub_visit(r, visit=visit).total_expected for r in (reference, moved))
    assert here != there and scrub.scrub_visit(reference, visit=visit).total_expected == here  # none served stale


def _la() -> Any:
    from rehabclaim.practice import Locality

    return Locality(mac="01182", number="18")


# --- refusals: typed, naming the field; the CLI prints them as they are -----------------------------------


REFUSALS: list[tuple[list[str], type[Refusal], str]] = [
    (["code", "12345"], NotFound, "code"),
    (["units", "97110=abc"], BadInput, "argument 1"),
    (["units", "97110=30", "97140=99999"], BadInput, "argument 2"),
    (["units", "97110=10", "--method", "fastest"], BadInput, "--method"),
    (["units", "00000=10"], BadInput, "services[0].code"),
    (["fee", "97110", "--date", "2026-13-01"], BadInput, "--date"),
    (["fee", "97110", "--year", "10000"], BadInput, "--year"),
    (["fee", "9711"], BadInput, "code"),
    (["fee", "97110", "--locality", "11502:xx"], BadInput, "--locality"),
    (["fee", "97110", "--year", "2025", "--date", "2026-01-01"], BadInput, ""),
    (["fee", "L1906"], NotFound, ""),
    (["fee", "97010"], NotFound, ""),
    (["payer", "nobody"], NotFound, "payer"),
]


def _service_call(reference: Reference, args: list[str]) -> None:
    """The service call the CLI makes for ``args``."""
    command, *rest = args
    if command == "code":
        catalog.code_facts(reference, code=rest[0])
    elif command == "units":
        pairs = [arg for arg in rest if "=" in arg]
        method = rest[rest.index("--method") + 1] if "--method" in rest else "cms"
        catalog.units(reference, services=catalog.parse_pairs(pairs), method=method)
    elif command == "fee":
        options = dict(zip(rest[1::2], rest[2::2], strict=True))
        year = options.get("--year")
        fees.fee(
            reference,
            code=rest[0],
            day=options.get("--date"),
            year=None if year is None else int(year),
            locality=options.get("--locality"),
        )
    else:
        payers.payer(reference, key=rest[0])


@pytest.mark.parametrize(("args", "kind", "field"), REFUSALS, ids=[" ".join(args) for args, _, _ in REFUSALS])
def test_refusals_name_the_field_and_the_cli_prints_them(
    reference: Reference, args: list[str], kind: type[Refusal], field: str
) -> None:
    with pytest.raises(Refusal) as caught:
        _service_call(reference, args)
    refusal = caught.value
    assert type(refusal) is kind and refusal.field == field
    result = cli(*args)
    assert result.exit_code == refusal.exit_code == 2
    assert result.stderr == f"error: {refusal}\n"


def test_refusal_messages_are_the_ones_the_cli_printed_before(reference: Reference) -> None:
    def message(args: list[str]) -> str:
        with pytest.raises(Refusal) as caught:
            _service_call(reference, args)
        return str(caught.value)

    assert message(["code", "12345"]) == "code: unknown code '12345'"
    assert message(["units", "97110=abc"]) == "argument 1: expected CODE=MINUTES, got '97110=abc'"
    assert message(["units", "97110=30", "97140=99999"]) == "argument 2: minutes: Expected int <= 1440"
    assert message(["fee", "97110", "--date", "2026-13-01"]) == "--date: expected YYYY-MM-DD, got '2026-13-01'"
    assert message(["fee", "97110", "--year", "2025", "--date", "2026-01-01"]) == (
        "--date 2026-01-01 is not in --year 2025"
    )
    assert message(["fee", "L1906"]).startswith("L1906 is an orthosis (a DMEPOS item)")
    assert message(["payer", "nobody"]) == (
        "payer: unknown payer 'nobody'; configured: default, medicare, sample_bundling_hmo, sample_medicaid, "
        "sample_per_code"
    )
    with pytest.raises(NotFound, match="unknown rule 'X999'") as unknown_rule:
        rules.rule(rule_id="X999")
    assert unknown_rule.value.field == "rule"


def test_read_visits_names_the_line_and_field_as_scrub_prints_it(reference: Reference, tmp_path: Path) -> None:
    good, second = example_lines()[:2]
    bad = second.replace(b'"minutes": 36', b'"minutes": -1')
    data = good + bad
    with pytest.raises(BadInput) as caught:
        scrub.read_visits(data, reference=reference, json_lines=True)
    assert (caught.value.line, caught.value.field) == (2, "services[0].minutes")
    path = tmp_path / "visits.jsonl"
    path.write_bytes(data)
    result = cli("scrub", str(path), "--json")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"error: {caught.value}\n")
    with pytest.raises(BadInput) as whole:
        scrub.read_visits(b"not json", reference=reference, json_lines=False, source="visit.json")
    assert whole.value.field == "visit.json" and "not valid JSON" in whole.value.reason
    assert len(scrub.read_visits(good + b"\n\n" + good, reference=reference)) == 2  # told apart: JSON Lines
    with pytest.raises(Refusal) as too_many:
        scrub.read_visits(good * 3, reference=reference, max_visits=2)
    assert too_many.value.http_status == 413 and too_many.value.line == 3


# --- scrub_lines streams --------------------------------------------------------------------------------


def test_scrub_lines_yields_each_result_before_reading_the_next_line(reference: Reference) -> None:
    taken: list[int] = []

    def lines() -> Iterator[bytes]:
        for number, raw in enumerate(example_lines(), start=1):
            taken.append(number)
            yield raw

    stream = scrub.scrub_lines(reference, lines=lines())
    assert inspect.isgenerator(stream) and taken == []  # nothing read until a result is asked for
    first = next(stream)
    assert taken == [1]
    assert json.loads(first)["id"] == "demo-1" and first.endswith(b"\n")
    assert len(list(stream)) == len(example_lines()) - 1


def test_scrub_lines_reports_a_bad_line_and_goes_on(reference: Reference, tmp_path: Path) -> None:
    good = example_lines()[0]
    bad = b'{"id": "broken", "services": [}\n'
    unknown = good.replace(b'"97110"', b'"99999"')
    lines = [good, bad, b"\n", unknown, good]
    out = [json.loads(line) for line in scrub.scrub_lines(reference, lines=lines)]
    assert [row.get("id") for row in out] == ["demo-1", None, None, "demo-1"]
    assert list(out[1]) == ["line", "field", "error"]
    assert out[1]["line"] == 2 and out[1]["error"].startswith("line 2: not valid JSON")
    assert out[2] == {"line": 4, "field": "services[1].code", "error": "line 4: services[1].code: unknown code '99999'"}
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(lines))
    summary = json.loads(cli_json("batch", str(source), "--out", str(tmp_path / "out.jsonl")))
    assert summary["skipped"] == [{"line": row["line"], "error": row["error"]} for row in out[1:3]]  # as batch says


# --- patient state ----------------------------------------------------------------------------------------


PATIENT_VISITS: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("2026-03-02", "PT", [{"code": "97161"}, {"code": "97110", "minutes": 30}]),  # an evaluation: a report
    ("2026-03-04", "PT", [{"code": "97110", "minutes": 30}]),
    ("2026-03-06", "PT", [{"code": "97110", "minutes": 30}]),
    ("2026-03-09", "PT", [{"code": "97110", "minutes": 30}, {"code": "97760", "minutes": 20, "body_region": "lower"}]),
    ("2026-03-10", "OT", [{"code": "97530", "minutes": 30}]),
    ("2026-03-11", "PT", [{"code": "97110", "minutes": 30}, {"code": "97760", "minutes": 20, "body_region": "upper"}]),
]


@pytest.fixture
def ledger(ledger_url: str, reference: Reference) -> Any:
    """A ledger where patient P9 has the visits above posted (Medicare; a PT plan of care certified for
    longer than a certification covers; an authorization of 12 visits)."""
    engine = open_ledger(ledger_url)
    for number, (day, discipline, services) in enumerate(PATIENT_VISITS):
        fields: dict[str, Any] = {
            "id": f"p9-{number}",
            "date": day,
            "payer": "medicare",
            "discipline": discipline,
            "diagnoses": ["M54.50"],
            "patient": {"id": "P9"},
            "services": services,
            "authorization": {"number": "A1", "visits": 12, "from": "2026-03-01", "through": "2026-06-30"},
        }
        if discipline == "PT":
            fields["plan_of_care"] = {"certified_from": "2026-03-02", "certified_through": "2026-07-15"}
        posted = post_visit(engine, reference=reference, visit=decode_visit(json.dumps(fields)), actor=terminal_actor())
        assert posted.posted, posted.reason
    yield engine
    engine.dispose()


def _probe(day: str, discipline: Any = "PT") -> Visit:
    return Visit(
        id="probe",
        date=date.fromisoformat(day),
        payer="medicare",
        discipline=discipline,
        services=[],
        patient=Patient(id="P9"),
    )


def test_patient_state_is_what_ledger_show_prints_and_keeps_the_old_shape(
    ledger: Any, ledger_url: str, reference: Reference
) -> None:
    state = patients.patient_state(ledger, reference=reference, patient_id="P9")
    shown = cli_json("ledger", "show", "P9", "--database-url", ledger_url)
    assert shown == encoded(state)
    document = json.loads(shown)
    before = ledger_record_dict(ledger, "P9")  # the record as `ledger show --json` printed it before issue 10
    assert before is not None and list(document)[:6] == list(before)
    assert {key: document[key] for key in before} == before
    assert list(document)[6:] == [
        "as_of",
        "kx",
        "plan_of_care_windows",
        "progress_reports",
        "authorization_use",
        "orthotic_history",
    ]
    assert list(document["visits"][0]) == [
        "id",
        "date",
        "payer",
        "discipline",
        "therapy_units",
        "charge",
        "expected",
        "allowed",
        "progress_report",
    ]
    assert list(document["authorizations"][0]) == ["payer", "number", "visits", "units", "from", "through"]
    assert [v.id for v in state.visits] == [f"p9-{n}" for n in range(len(PATIENT_VISITS))]


def test_patient_state_standing_on_the_latest_visit(ledger: Any, reference: Reference) -> None:
    state = patients.patient_state(ledger, reference=reference, patient_id="P9")
    assert state.as_of == date(2026, 3, 11)  # the latest posted visit, not today
    pt_expected = sum(v.expected for v in state.visits if v.discipline == "PT")
    ot_expected = sum(v.expected for v in state.visits if v.discipline == "OT")
    threshold = reference.medicare.kx_threshold_for(2026)
    assert threshold is not None
    assert [(kx.benefit, kx.year) for kx in state.kx] == [("PT_SLP", 2026), ("OT", 2026)]
    assert state.kx[0].allowed == pytest.approx(pt_expected) and state.kx[1].allowed == pytest.approx(ot_expected)
    assert state.kx[0].threshold == float(threshold.amount) and state.kx[0].threshold_source == threshold.source
    [window] = state.plan_of_care_windows  # OT has no plan of care
    most = reference.thresholds.plan_of_care_certified_days_max
    assert (window.discipline, window.certified_from, window.certified_through) == (
        "PT",
        date(2026, 3, 2),
        date(2026, 7, 15),
    )
    assert window.covered_through == date(2026, 3, 2) + timedelta(days=most - 1) and window.in_force
    pt, ot = state.progress_reports
    assert (pt.discipline, pt.treatment_days, pt.every_treatment_days, pt.due) == ("PT", 4, 10, False)
    assert (ot.discipline, ot.treatment_days) == ("OT", 1)  # no OT report yet: every OT day counts
    [authorization] = state.authorization_use
    assert (authorization.number, authorization.counts, authorization.limit, authorization.used) == (
        "A1",
        "visits",
        12,
        len(PATIENT_VISITS),
    )
    assert [(r.body_region, [e.visit for e in r.encounters]) for r in state.orthotic_history] == [
        ("lower", ["p9-3"]),
        ("upper", ["p9-5"]),
    ]
    history = LedgerHistory(ledger)  # the rules' own counts for a visit that day
    days = history.treatment_days_since_progress_report(_probe("2026-03-11"))
    allowed = history.allowed_ytd(_probe("2026-03-11"), "PT_SLP")
    assert days is not None and days.value == pt.treatment_days
    assert allowed is not None and Decimal(str(state.kx[0].allowed)) == allowed.value


def test_patient_state_on_an_earlier_and_a_later_date(ledger: Any, ledger_url: str, reference: Reference) -> None:
    earlier = patients.patient_state(ledger, reference=reference, patient_id="P9", day="2026-03-06")
    assert earlier.as_of == date(2026, 3, 6)
    first_three = sum(v.expected for v in earlier.visits[:3])
    assert [kx.benefit for kx in earlier.kx] == ["PT_SLP", "OT"] and earlier.kx[0].allowed == pytest.approx(first_three)
    assert earlier.kx[1].allowed == 0
    assert earlier.progress_reports[0].treatment_days == 2 and len(earlier.progress_reports) == 1  # no OT visit yet
    assert earlier.orthotic_history == []
    later = patients.patient_state(ledger, reference=reference, patient_id="P9", day=date(2026, 6, 15))
    assert not later.plan_of_care_windows[0].in_force  # past the 90 days a certification covers
    assert later.progress_reports[0].treatment_days == 5
    result = cli("ledger", "show", "P9", "--database-url", ledger_url, "--date", "2026-03-06", "--json")
    assert result.stdout_bytes == encoded(earlier)


def test_patient_state_refusals(ledger: Any, ledger_url: str, reference: Reference) -> None:
    with pytest.raises(NotFound) as unknown:
        patients.patient_state(ledger, reference=reference, patient_id="P0")
    assert str(unknown.value) == "patient 'P0' is not in the ledger"
    shown = cli("ledger", "show", "P0", "--database-url", ledger_url)
    assert (shown.exit_code, shown.stderr) == (2, f"error: {unknown.value}\n")
    with pytest.raises(BadInput) as bad_date:
        patients.patient_state(ledger, reference=reference, patient_id="P9", day="2026-02-30")
    assert bad_date.value.field == "--date"


def test_a_due_progress_report_is_flagged(ledger_url: str, reference: Reference) -> None:
    engine = open_ledger(ledger_url)
    try:
        start = date(2026, 4, 1)
        for number in range(10):  # an evaluation, then nine more treatment days
            services = [{"code": "97161"}] if number == 0 else [{"code": "97110", "minutes": 30}]
            fields = {
                "id": f"d-{number}",
                "date": (start + timedelta(days=number)).isoformat(),
                "payer": "medicare",
                "discipline": "PT",
                "diagnoses": ["M54.50"],
                "patient": {"id": "P10"},
                "services": services,
            }
            post_visit(engine, reference=reference, visit=decode_visit(json.dumps(fields)), actor=terminal_actor())
        on_tenth = patients.patient_state(engine, reference=reference, patient_id="P10")
        after = patients.patient_state(engine, reference=reference, patient_id="P10", day="2026-04-11")
    finally:
        engine.dispose()
    assert (on_tenth.progress_reports[0].treatment_days, on_tenth.progress_reports[0].due) == (9, True)
    assert (after.progress_reports[0].treatment_days, after.progress_reports[0].due) == (10, True)
