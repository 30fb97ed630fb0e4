"""The visit contract as untrusted input: nothing in a visit may crash, stall, leak or corrupt (issue items 9,
10, 11, 14, 16 and 18, JSON Lines on stdin and the scrub progress bar)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from rehabclaim.batch import run_batch
from rehabclaim.cli import main as cli
from rehabclaim.errors import InputError
from rehabclaim.fees.estimate import cents
from rehabclaim.ledger import LedgerHistory, PostRefused, open_ledger, post_visit
from rehabclaim.ledger import models as ledger_models
from rehabclaim.ledger import post as post_module
from rehabclaim.model import MAX_VISIT_BYTES, Visit
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import BASE_VISIT, visit_json

runner = CliRunner()
SERVICE = {"code": "97110", "minutes": 30}
GOOD: dict[str, Any] = {**BASE_VISIT, "patient": {"id": "P1"}, "services": [SERVICE]}
MESSAGE_LIMIT = 200  # a refusal is one short line, whatever the input


def raw_visit(**fields: Any) -> bytes:
    return msgspec.json.encode({**GOOD, **fields})


def refusal(data: bytes | str) -> InputError:
    with pytest.raises(InputError) as caught:
        decode_visit(data)
    return caught.value


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# item 9: nesting ------------------------------------------------------------------------------------------


def test_a_field_nested_a_thousand_deep_is_an_input_error_not_a_crash() -> None:
    raw = raw_visit()[:-1] + b',"extra":' + nested(1000) + b"}"
    assert "nested too deeply" in str(refusal(raw))


def test_unknown_fields_nested_a_little_are_still_ignored() -> None:
    assert decode_visit(raw_visit()[:-1] + b',"extra":' + nested(50) + b"}").id == "t1"


def test_batch_skips_a_poison_line_and_keeps_every_good_one(tmp_path: Path) -> None:
    poison = raw_visit()[:-1] + b',"x":{"y":' + nested(1000) + b"}}"
    lines = [raw_visit(id=f"v{n}") if n != 2 else poison for n in range(1, 5)]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    summary = run_batch(source, tmp_path / "out.jsonl")
    assert summary.visits == 3 and [line for line, _ in summary.skipped] == [2]
    ids = [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert ids == ["v1", "v3", "v4"]


# item 10: money and counts ---------------------------------------------------------------------------------


def test_an_absurd_allowed_amount_is_refused_at_the_contract() -> None:
    error = refusal(raw_visit(therapy_allowed_ytd={"PT_SLP": 1e26}))
    assert error.field == "therapy_allowed_ytd"
    assert error.reason == "Expected float <= 10000000.0 (a key or value in it)"


def test_the_largest_allowed_amount_scrubs_with_kx(engine: Scrubber) -> None:
    result = engine.scrub(decode_visit(raw_visit(therapy_allowed_ytd={"PT_SLP": 10_000_000})))
    assert any(f.rule == "K001" and "$10000000.00" in f.message for f in result.findings)


def test_cents_rounds_amounts_beyond_28_digits() -> None:
    assert cents(Decimal("1e26")) == Decimal("100000000000000000000000000.00")
    assert cents(Decimal("2.345")) == Decimal("2.35")


def test_a_count_that_no_integer_column_holds_is_refused() -> None:
    authorization = {"from": "2026-01-01", "through": "2026-12-31", "units": 2**40}
    assert refusal(raw_visit(authorization=authorization)).field == "authorization.units"


# item 11: sizes -----------------------------------------------------------------------------------------


def _bounds_missing(info: msgspec.inspect.Type, path: str, seen: set[type]) -> list[str]:
    """Every string, list, dict and number in the contract without an upper bound."""
    inspect = msgspec.inspect
    if isinstance(info, inspect.UnionType):
        return [gap for member in info.types for gap in _bounds_missing(member, path, seen)]
    if isinstance(info, inspect.StructType):
        if info.cls in seen:
            return []
        seen.add(info.cls)
        return [gap for f in info.fields for gap in _bounds_missing(f.type, f"{path}.{f.encode_name}", seen)]
    if isinstance(info, inspect.StrType):
        return [] if info.max_length is not None or info.pattern is not None else [path]
    if isinstance(info, inspect.ListType):
        own = [] if info.max_length is not None else [path]
        return own + _bounds_missing(info.item_type, f"{path}[]", seen)
    if isinstance(info, inspect.DictType):
        own = [] if info.max_length is not None else [path]
        return own + _bounds_missing(info.key_type, f"{path}{{}}", seen) + _bounds_missing(info.value_type, path, seen)
    if isinstance(info, inspect.IntType | inspect.FloatType):
        return [] if info.le is not None or info.lt is not None else [path]
    return []


def test_every_string_list_and_number_of_the_contract_is_bounded() -> None:
    assert _bounds_missing(msgspec.inspect.type_info(Visit), "visit", set()) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "x" * 100_000},
        {"payer": "x" * 1_000_000},
        {"discipline": "x" * 100_000},
        {"patient": {"id": "x" * 100_000, "sex": "x" * 100_000}},
        {"services": [{**SERVICE, "code": "x" * 100_000}]},
        {"services": [{**SERVICE, "body_region": "x" * 100_000}]},
        {"services": [{**SERVICE, "modifiers": ["x" * 100_000]}]},
        {"diagnoses": ["x" * 100_000]},
        {"claim_frequency": "x" * 100_000},
        {"services": [SERVICE] * 201},
        {"diagnoses": ["M54.50"] * 65},
    ],
    ids=lambda fields: next(iter(fields)),
)
def test_an_oversized_field_is_refused_at_once_in_a_short_message(fields: dict[str, Any]) -> None:
    started = time.perf_counter()
    error = refusal(raw_visit(**fields))
    assert time.perf_counter() - started < 0.5
    assert len(str(error)) < MESSAGE_LIMIT and "x" * 30 not in str(error)


def test_a_visit_over_a_megabyte_is_refused_before_it_is_decoded() -> None:
    error = refusal(raw_visit(notes="x" * MAX_VISIT_BYTES))
    assert "too big for one visit" in str(error) and len(str(error)) < MESSAGE_LIMIT


def test_the_cli_refuses_a_ten_megabyte_field_quickly_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "visit.json"
    path.write_bytes(raw_visit(notes="x" * 10_000_000))
    started = time.perf_counter()
    result = runner.invoke(cli.app, ["scrub", str(path)])
    assert result.exit_code == 2 and time.perf_counter() - started < 5
    assert len(result.stderr.strip().splitlines()) == 1 and len(result.stderr) < MESSAGE_LIMIT


def test_the_cli_refuses_a_megabyte_payer_name_quickly(tmp_path: Path) -> None:
    path = tmp_path / "visit.json"
    path.write_bytes(raw_visit(payer="x" * 1_000_000))
    started = time.perf_counter()
    result = runner.invoke(cli.app, ["scrub", str(path)])
    assert result.exit_code == 2 and "payer" in result.stderr and time.perf_counter() - started < 5


# item 14: the ledger's columns ------------------------------------------------------------------------------

# every visit field the ledger stores, with its column
STORED = [
    (("id",), ledger_models.PostedVisit.id),
    (("payer",), ledger_models.PostedVisit.payer),
    (("payer",), ledger_models.AuthorizationRecord.payer),
    (("patient", "id"), ledger_models.Patient.id),
    (("services", "code"), ledger_models.PostedLine.code),
    (("services", "body_region"), ledger_models.OrthoticEncounter.body_region),
    (("plan_of_care", "certifying_physician", "npi"), ledger_models.PlanOfCareRecord.physician_npi),
    (("plan_of_care", "certifying_physician", "name"), ledger_models.PlanOfCareRecord.physician_name),
    (("authorization", "number"), ledger_models.AuthorizationRecord.number),
]


def _unwrap(info: Any) -> Any:
    """The type inside an optional or a list."""
    while isinstance(info, msgspec.inspect.UnionType | msgspec.inspect.ListType):
        if isinstance(info, msgspec.inspect.ListType):
            info = info.item_type
        else:
            info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    return info


def _contract_max_length(path: tuple[str, ...]) -> int | None:
    info: Any = msgspec.inspect.type_info(Visit)
    for name in path:
        info = next(f.type for f in _unwrap(info).fields if f.encode_name == name)
    return _unwrap(info).max_length  # type: ignore[no-any-return]


@pytest.mark.parametrize(("path", "column"), STORED, ids=lambda item: str(item))
def test_every_stored_field_fits_its_ledger_column(path: tuple[str, ...], column: Any) -> None:
    limit = _contract_max_length(path)
    assert limit is not None and limit <= column.type.length


def _longest_visit(**fields: Any) -> dict[str, Any]:
    return {
        **GOOD,
        "id": "v" * 64,
        "payer": "p" * 64,
        "patient": {"id": "P" * 64},
        "services": [{"code": "97760", "minutes": 30, "body_region": "r" * 32}],
        "plan_of_care": {
            "certified_from": "2026-05-01",
            "certified_through": "2026-07-30",
            "certifying_physician": {"npi": "1234567893", "name": "N" * 128},
        },
        "authorization": {"from": "2026-01-01", "through": "2026-12-31", "number": "A" * 64, "visits": 20},
        **fields,
    }


@pytest.fixture
def ledger(ledger_url: str) -> Any:
    engine = open_ledger(ledger_url)
    yield engine
    engine.dispose()


def test_the_longest_values_the_contract_accepts_post_on_both_databases(ledger: Any) -> None:
    visit = decode_visit(msgspec.json.encode(_longest_visit()))
    result = Scrubber(history=LedgerHistory(ledger)).scrub(visit)
    assert not result.has_error, result.findings
    post_visit(ledger, visit, result)
    with ledger.connect() as connection:
        assert connection.execute(select(ledger_models.PostedVisit.id)).scalars().all() == ["v" * 64]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"id": "v" * 65}, "id"),
        ({"patient": {"id": "P" * 65}}, "patient.id"),
        ({"services": [{"code": "97760", "minutes": 30, "body_region": "r" * 33}]}, "services[0].body_region"),
        (
            {"authorization": {"from": "2026-01-01", "through": "2026-12-31", "number": "A" * 65}},
            "authorization.number",
        ),
        ({"id": "v\u0000"}, "id"),
        ({"patient": {"id": "P\u00001"}}, "patient.id"),
        ({"services": [{**SERVICE, "body_region": "knee\n"}]}, "services[0].body_region"),
        ({"payer": "medi\u0085care"}, "payer"),
        ({"payer": "medi\u007fcare"}, "payer"),
    ],
)
def test_too_long_or_control_characters_are_refused_at_the_contract(fields: dict[str, Any], field: str) -> None:
    assert refusal(msgspec.json.encode(_longest_visit(**fields))).field == field


def test_control_characters_in_fields_the_contract_ignores_are_kept() -> None:
    assert decode_visit(raw_visit(notes="line one\nline two\u0000")).id == "t1"


def _scrub_post(tmp_path: Path, ledger_url: str, *visits: dict[str, Any]) -> Any:
    path = tmp_path / "visits.jsonl"
    path.write_bytes(b"\n".join(msgspec.json.encode(v) for v in visits) + b"\n")
    return runner.invoke(cli.app, ["scrub", str(path), "--post", "--json", "--database-url", ledger_url])


def _posted(ledger_url: str) -> list[str]:
    engine = open_ledger(ledger_url)
    with engine.connect() as connection:
        ids = sorted(connection.execute(select(ledger_models.PostedVisit.id)).scalars())
    engine.dispose()
    return ids


def test_a_value_longer_than_its_column_is_refused_alike_on_both_databases(tmp_path: Path, ledger_url: str) -> None:
    # "İ" lower-cases to two characters: 40 in the visit, an 80-character payer key for a 64-character column
    visits = [{**GOOD, "id": "v1"}, {**GOOD, "id": "v2", "payer": "İ" * 40}, {**GOOD, "id": "v3"}]
    result = _scrub_post(tmp_path, ledger_url, *visits)
    assert result.exit_code == 1, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["v1", "v2", "v3"]
    assert "not posted" in result.stderr and "visits.payer" in result.stderr and "80 characters" in result.stderr
    assert _posted(ledger_url) == ["v1", "v3"]


def test_a_database_error_is_one_visits_refusal_and_every_result_is_printed(
    tmp_path: Path, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_insert = post_module.insert_ignoring_duplicates

    def failing(connection: Any, table: type, values: dict[str, object]) -> None:
        if values.get("id") == "P2":
            raise OperationalError("INSERT INTO patients ... 'P2'", {}, Exception("server closed the connection\nSQL"))
        real_insert(connection, table, values)

    monkeypatch.setattr(post_module, "insert_ignoring_duplicates", failing)
    visits = [{**GOOD, "id": f"v{n}", "patient": {"id": f"P{n}"}} for n in (1, 2, 3)]
    result = _scrub_post(tmp_path, ledger_url, *visits)
    assert result.exit_code == 1 and not isinstance(result.exception, Exception)  # no traceback
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["v1", "v2", "v3"]
    assert "visit v2: not posted, the ledger failed (server closed the connection)" in result.stderr
    assert "INSERT" not in result.stderr
    assert _posted(ledger_url) == ["v1", "v3"]


def test_post_visit_refuses_a_line_whose_modifiers_overflow_their_column(ledger: Any) -> None:
    visit = decode_visit(raw_visit())
    result = Scrubber().scrub(visit)
    too_many = msgspec.structs.replace(result.lines[0], modifiers=["GP", *["59"] * 11])
    with pytest.raises(PostRefused, match=r"visit_lines\.modifiers"):
        post_visit(ledger, visit, msgspec.structs.replace(result, lines=[too_many]))
    with ledger.connect() as connection:
        assert connection.execute(select(ledger_models.PostedVisit.id)).scalars().all() == []


# item 16: duplicate keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            b'{"id":"a","id":"b","date":"2026-06-01","payer":"medicare","discipline":"PT","services":[{"code":"97110"}]}',
            "id",
        ),
        (
            b'{"id":"a","date":"2026-06-01","payer":"medicare","discipline":"PT",'
            b'"services":[{"code":"97110","minutes":30},{"code":"97110","minutes":30,"minutes":40}]}',
            "services[1].minutes",
        ),
        (
            b'{"id":"a","date":"2026-06-01","patient":{"id":"P1"},"payer":"medicare","discipline":"PT",'
            b'"services":[{"code":"97110"}],"patient":{"id":"P2"}}',
            "patient",
        ),
        (
            b'{"id":"a","date":"2026-06-01","payer":"medicare","discipline":"PT","services":[{"code":"97110"}],'
            b'"extra":{"note":"x\\"y\\u003a","note":"z"}}',
            "extra.note",
        ),
        (
            b'{ "id" : "a", "date" : "2026-06-01", "payer" : "medicare", "discipline" : "PT",\n'
            b'  "services" : [ { "code" : "97110" } ], "payer" :"aetna" }',
            "payer",
        ),
    ],
)
def test_a_key_given_twice_is_refused_naming_it(raw: bytes, field: str) -> None:
    error = refusal(raw)
    assert error.field == field and "duplicate key" in error.reason


def test_a_repeated_long_unknown_key_is_named_by_a_short_quote() -> None:
    key = "k" * 1000
    raw = raw_visit()[:-1] + f',"{key}":1,"{key}":2}}'.encode()
    error = refusal(raw)
    assert "duplicate key" in str(error) and len(str(error)) < MESSAGE_LIMIT


@pytest.mark.parametrize("value", [b"1", b'"\\u003a"'], ids=["fast path", "slow path"])
def test_invalid_utf8_in_a_field_the_contract_ignores_is_refused(value: bytes) -> None:
    raw = raw_visit()[:-1] + b',"x\xc3(":' + value + b"}"
    assert "not valid JSON" in str(refusal(raw))


def test_same_keys_in_sibling_objects_are_not_duplicates() -> None:
    raw = raw_visit(
        services=[{**SERVICE, "time_blocks": [{"start": "08:00", "end": "08:30"}]}, {"code": "97140", "minutes": 8}],
        patient={"id": "P1", "first_name": 'Jo "Jo": :', "last_name": "Núñez\u003a"},
        extra={"id": {"id": {"id": "a:b:c"}}},
    )
    assert decode_visit(raw).id == "t1"


# any JSON value, with keys from a small alphabet so objects often repeat one; objects as lists of pairs
_keys = st.sampled_from(["a", "b", "id", "a:b", 'q"', "é", ":"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(alphabet=':"\\é\u0085x ', max_size=5))
_documents = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.lists(st.tuples(_keys, inner), max_size=4).map(tuple),
    max_leaves=12,
)


def _encode(node: Any, style: str) -> str:
    """JSON text; ``ascii`` escapes every non-ASCII character, ``colons`` every colon inside a string."""
    if isinstance(node, tuple):
        return "{" + ",".join(f"{_encode(key, style)} : {_encode(value, style)}" for key, value in node) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_encode(item, style) for item in node) + "]"
    text = json.dumps(node, ensure_ascii=style == "ascii")
    return text.replace(":", "\\u003a") if style == "colons" and isinstance(node, str) else text


def _has_repeat(node: Any) -> bool:
    if isinstance(node, tuple):
        keys = [k for k, _ in node]
        return len(keys) != len(set(keys)) or any(_has_repeat(v) for _, v in node)
    return isinstance(node, list) and any(_has_repeat(item) for item in node)


@settings(max_examples=300, deadline=None)
@given(extra=_documents, style=st.sampled_from(["utf-8", "ascii", "colons"]))
def test_duplicate_keys_are_found_exactly_wherever_they_are(extra: Any, style: str) -> None:
    raw = raw_visit()[:-1] + f',"extra":{_encode(extra, style)}}}'.encode()
    if _has_repeat(extra):
        assert "duplicate key" in refusal(raw).reason
    else:
        assert decode_visit(raw).id == "t1"


# item 18: no value echoed in full ---------------------------------------------------------------------------


def test_an_invalid_enum_value_is_quoted_short() -> None:
    error = refusal(raw_visit(discipline="1EG4TE5MK73" + "X" * 50))
    assert error.field == "discipline"
    assert error.reason == "Invalid enum value '1EG4TE5MK73XXXXXXXXXXXXX'... (61 characters)"


def test_cli_code_and_units_quote_a_long_argument_short() -> None:
    code = runner.invoke(cli.app, ["code", "A" * 5000])
    assert code.exit_code == 2 and "(5000 characters)" in code.stderr and len(code.stderr) < MESSAGE_LIMIT
    units = runner.invoke(cli.app, ["units", "97110=" + "1" * 5000])
    assert units.exit_code == 2 and "(5006 characters)" in units.stderr and len(units.stderr) < MESSAGE_LIMIT
    method = runner.invoke(cli.app, ["units", "97110=30", "--method", "m" * 5000])
    assert method.exit_code == 2 and len(method.stderr) < MESSAGE_LIMIT


def test_cli_units_applies_the_contracts_limits() -> None:
    result = runner.invoke(cli.app, ["units", "97110=30", "97140=99999"])
    assert result.exit_code == 2 and "argument 2: minutes: Expected int <= 1440" in result.stderr
    digits = runner.invoke(cli.app, ["units", "97110=²"])  # a digit to str.isdigit, not to int()
    assert digits.exit_code == 2 and "expected CODE=MINUTES" in digits.stderr


def test_an_unknown_diagnosis_is_quoted(engine: Scrubber) -> None:
    result = engine.scrub(decode_visit(raw_visit(diagnoses=["1EG4TE5MK73"])))
    assert [f.message.split(" (")[0] for f in result.findings if f.rule == "D002"] == [
        "'1EG4TE5MK73' is not an ICD-10-CM code"
    ]


# JSON Lines on stdin, line numbers, progress ------------------------------------------------------------------


def test_scrub_reads_json_lines_from_stdin() -> None:
    lines = "\n".join(json.dumps({**GOOD, "id": f"v{n}"}) for n in (1, 2)) + "\n"
    result = runner.invoke(cli.app, ["scrub", "-", "--json"], input=lines)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["v1", "v2"]


def test_scrub_still_reads_one_pretty_printed_visit_from_stdin() -> None:
    result = runner.invoke(cli.app, ["scrub", "-", "--json"], input=json.dumps(GOOD, indent=2))
    assert result.exit_code == 0 and json.loads(result.stdout)["id"] == "t1"


def test_an_unknown_code_names_its_line_on_stdin() -> None:
    lines = json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, "services": [{"code": "99999"}]}) + "\n"
    result = runner.invoke(cli.app, ["scrub", "-"], input=lines)
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: line 3: services[0].code: unknown code '99999'"


def _terminal(monkeypatch: pytest.MonkeyPatch, stderr: bool, stdout: bool) -> None:
    monkeypatch.setenv("TERM", "xterm")  # Rich draws nothing live on a "dumb" terminal
    monkeypatch.setattr(cli.errors, "_force_terminal", stderr)
    monkeypatch.setattr(cli.errors, "is_interactive", stderr)  # Rich sets it when the console is made
    monkeypatch.setattr(cli.console, "_force_terminal", stdout)


def test_scrub_shows_progress_on_a_terminal_while_results_go_to_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "visits.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    _terminal(monkeypatch, stderr=True, stdout=False)
    assert "scrubbing" in runner.invoke(cli.app, ["scrub", str(path)]).stderr
    assert "scrubbing" not in runner.invoke(cli.app, ["scrub", str(path), "--json"]).stderr
    _terminal(monkeypatch, stderr=False, stdout=False)
    assert "scrubbing" not in runner.invoke(cli.app, ["scrub", str(path)]).stderr


def test_decode_visit_takes_text_too() -> None:
    assert decode_visit(visit_json(services=[SERVICE])).id == decode_visit(visit_json(services=[SERVICE]).decode()).id
    assert "lone surrogate" in str(refusal('{"id": "\ud800"}'))
