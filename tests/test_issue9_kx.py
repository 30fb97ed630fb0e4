"""Issue 9: KX and the review threshold follow the year's allowed amounts, not this visit's fee estimate.

Before the fix a line without an estimate (a code without a fee, a date outside the loaded fee files) never
took KX, even far above the threshold, and nothing said so. Each test here fails on the code before the fix,
except the guards (their docstrings say so): output that must not change, and warnings that must not
appear.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from rehabclaim.fees.medicare_policy import medicare_payment
from rehabclaim.ledger import LedgerHistory, open_ledger, post_visit
from rehabclaim.ledger.models import PostedVisit
from rehabclaim.model import Finding, ScrubResult
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import visit_json

OUTSIDE_FEE_FILES = {"date": "2019-06-03", "diagnoses": ["M54.5"]}  # a KX threshold, no PPRRVU/GPCI file


def hits(result: ScrubResult, rule: str) -> list[Finding]:
    return [finding for finding in result.findings if finding.rule == rule]


def modifiers(result: ScrubResult) -> dict[str, list[str]]:
    return {line.code: line.modifiers for line in result.lines}


def line_of(result: ScrubResult, code: str) -> Any:
    [found] = [line for line in result.lines if line.code == code]
    return found


def ytd(amount: float) -> dict[str, Any]:
    return {"therapy_allowed_ytd": {"PT_SLP": amount}}


# --- at or past the threshold: KX on every therapy line, whatever its price ------------------------------


def test_past_the_threshold_a_code_without_a_fee_takes_kx(scrub: Any) -> None:
    result = scrub(**ytd(2600.0), services=[{"code": "97110", "minutes": 30}, {"code": "0770T"}])
    assert line_of(result, "0770T").expected is None  # the estimate cannot price it ...
    assert modifiers(result) == {"97110": ["GP", "KX"], "0770T": ["GP", "KX"]}  # ... it is above all the same
    [kx] = hits(result, "K001")
    assert "$2600.00 before this visit (from the visit) is at or past the $2480 KX threshold" in kx.message
    assert "KX on 97110, 0770T" in kx.message


def test_past_the_threshold_on_a_date_outside_the_fee_files_takes_kx(scrub: Any) -> None:
    result = scrub(**OUTSIDE_FEE_FILES, **ytd(2500.0), services=[{"code": "97110", "minutes": 30}])
    assert line_of(result, "97110").expected is None
    assert modifiers(result) == {"97110": ["GP", "KX"]}
    [kx] = hits(result, "K001")
    assert "allowed 2019 therapy" in kx.message and "$2040 KX threshold" in kx.message  # the year's figure


def test_exactly_at_the_threshold_every_line_takes_kx(scrub: Any) -> None:
    result = scrub(**ytd(2480.0), services=[{"code": "97010"}, {"code": "97110", "minutes": 30}])
    assert line_of(result, "97010").expected == 0  # bundled: priced at nothing, and still above the threshold
    assert modifiers(result) == {"97010": ["GP", "KX"], "97110": ["GP", "KX"]}


def test_the_year_figure_and_its_source_in_the_message(scrub: Any) -> None:
    """Guard: the threshold is the data file's figure for the year, and the amount's source is named."""
    year = medicare_payment().kx_threshold_for(2026)
    assert year is not None
    [kx] = hits(scrub(**ytd(3000.0), services=[{"code": "0770T"}, {"code": "97110", "minutes": 30}]), "K001")
    assert f"${year.amount} KX threshold" in kx.message and "(from the visit)" in kx.message


# --- below it: the estimates decide, and a line without one is named with the reason --------------------


def test_below_a_code_without_a_fee_is_named_with_the_reason(scrub: Any) -> None:
    result = scrub(**ytd(2470.0), services=[{"code": "0770T"}, {"code": "97110", "minutes": 30}])
    assert modifiers(result) == {"0770T": ["GP"], "97110": ["GP", "KX"]}  # 97110 passes by its estimate
    undecided = [f for f in hits(result, "K001") if "could not be decided" in f.message]
    assert len(undecided) == 1
    message = undecided[0].message
    assert message.startswith("KX could not be decided for 0770T: no fee estimate for 0770T (")
    assert line_of(result, "0770T").expected_why in message  # why: the fee schedule's own reason
    assert "$2470.00 before this visit (from the visit) leaves $10.00 under the $2480 KX threshold" in message
    assert undecided[0].severity == "warning"


def test_below_a_date_outside_the_fee_files_is_named_with_the_reason(scrub: Any) -> None:
    result = scrub(**OUTSIDE_FEE_FILES, **ytd(2000.0), services=[{"code": "97110", "minutes": 30}])
    assert modifiers(result) == {"97110": ["GP"]}
    [kx] = hits(result, "K001")
    assert kx.message.startswith("KX could not be decided for 97110: no fee estimate for 97110 (")
    assert line_of(result, "97110").expected_why in kx.message
    assert "2019" in line_of(result, "97110").expected_why  # the reason is the missing file for the date
    assert "leaves $40.00 under the $2040 KX threshold" in kx.message


def test_lines_sharing_a_reason_are_grouped(scrub: Any) -> None:
    services = [{"code": "97110", "minutes": 30}, {"code": "97140", "minutes": 15}]
    [kx] = hits(scrub(**OUTSIDE_FEE_FILES, **ytd(2000.0), services=services), "K001")
    assert kx.message.startswith("KX could not be decided for 97110, 97140: no fee estimate for 97110, 97140 (")


def test_a_priced_line_that_only_an_unpriced_one_can_take_past_is_undecided_too(scrub: Any) -> None:
    # 97110 alone ($28.02 for 8 minutes) leaves the year under $2,480; whether it passes depends on 0770T
    result = scrub(**ytd(2440.0), services=[{"code": "0770T"}, {"code": "97110", "minutes": 8}])
    assert modifiers(result) == {"0770T": ["GP"], "97110": ["GP"]}
    [kx] = hits(result, "K001")
    assert kx.message.startswith("KX could not be decided for 0770T, 97110: no fee estimate for 0770T (")


def test_an_unpriced_line_after_the_crossing_takes_kx(scrub: Any) -> None:
    result = scrub(**ytd(2470.0), services=[{"code": "97110", "minutes": 30}, {"code": "0770T"}])
    assert modifiers(result) == {"97110": ["GP", "KX"], "0770T": ["GP", "KX"]}
    assert not [f for f in hits(result, "K001") if "could not be decided" in f.message]


def test_a_line_the_caller_marked_kx_needs_no_decision(scrub: Any) -> None:
    """Guard against over-warning: the caller's KX on the unpriced line is the decision."""
    result = scrub(**ytd(2000.0), services=[{"code": "97110", "minutes": 30}, {"code": "0770T", "modifiers": ["KX"]}])
    assert not hits(result, "K001")
    assert modifiers(result) == {"97110": ["GP"], "0770T": ["GP", "KX"]}


def test_a_line_without_units_is_not_billed_and_needs_no_kx(scrub: Any) -> None:
    """Guard: "every therapy line" means every billed one; a line of 0 units has no estimate and no KX."""
    result = scrub(**ytd(5000.0), services=[{"code": "97110", "minutes": 5}])
    assert line_of(result, "97110").units == 0 and modifiers(result) == {"97110": ["GP"]}
    assert not hits(result, "K001") and not hits(result, "K002")


def test_a_year_without_a_kx_threshold_says_so(scrub: Any) -> None:
    result = scrub(date="2030-03-04", **ytd(5000.0), services=[{"code": "97110", "minutes": 30}])
    [kx] = hits(result, "K001")
    assert kx.message.startswith("KX could not be decided for 97110: medicare-payment.toml has no 2030 KX threshold")


def test_ga_and_kx_are_never_on_one_line(scrub: Any) -> None:
    services = [{"code": "97110", "minutes": 30, "modifiers": ["GA"]}, {"code": "97112", "minutes": 15}]
    result = scrub(**ytd(2600.0), services=services)
    assert modifiers(result) == {"97110": ["GP", "GA"], "97112": ["GP", "KX"]}
    [kx] = hits(result, "K001")
    assert "KX on 97112" in kx.message and "no KX on 97110: GA" in kx.message


def test_the_payer_without_kx_is_left_alone(scrub: Any) -> None:
    """Guard: a payer whose profile has no KX gets neither KX nor a warning."""
    result = scrub(payer="sample_bundling_hmo", **ytd(5000.0), services=[{"code": "97110", "minutes": 30}])
    assert not hits(result, "K001") and not hits(result, "K002")


# --- output that must not change -------------------------------------------------------------------------


def test_crossing_within_a_visit_is_unchanged(scrub: Any) -> None:
    """Guard: the demo's crossing visit keeps its lines and message (passes before and after the fix)."""
    result = scrub(
        **ytd(2455.0),
        services=[{"code": "97140", "minutes": 15}, {"code": "97530", "minutes": 25}],
        diagnoses=["M17.11"],
    )
    assert [f.message for f in hits(result, "K001")] == [
        "allowed 2026 therapy (PT and SLP combined) $2455.00 before this visit (from the visit) passes the $2480 "
        "KX threshold with this visit: KX on 97530; document medical necessity"
    ]
    assert modifiers(result)["97140"] == ["GP"] and "KX" in modifiers(result)["97530"]


def test_review_message_for_a_priced_visit_is_unchanged(scrub: Any) -> None:
    """Guard: a fully priced visit keeps its K002 message (passes before and after the fix)."""
    [review] = hits(scrub(**ytd(2990.0), services=[{"code": "97110", "minutes": 30}]), "K002")
    assert review.message == (
        "allowed therapy this year reaches $3039.65 with this visit ($2990.00 before, from the visit), "
        "above the $3000 targeted medical review threshold"
    )


# --- the review threshold (K002) --------------------------------------------------------------------------


def test_review_past_before_the_visit_whatever_the_price(scrub: Any) -> None:
    [review] = hits(scrub(**OUTSIDE_FEE_FILES, **ytd(3100.0), services=[{"code": "97110", "minutes": 30}]), "K002")
    assert review.message.startswith("allowed therapy this year reaches at least $3100.00 with this visit")
    assert "above the $3000 targeted medical review threshold" in review.message


def test_review_below_with_a_code_without_a_fee_says_why(scrub: Any) -> None:
    result = scrub(**ytd(2950.0), services=[{"code": "97530", "minutes": 8}, {"code": "0770T"}])
    [review] = hits(result, "K002")
    assert review.message.startswith("the targeted medical review threshold could not be checked: no fee estimate")
    assert f"0770T ({line_of(result, '0770T').expected_why})" in review.message
    assert "$2983.61 with this visit's priced lines ($2950.00 before, from the visit), $16.39 under" in review.message


def test_review_below_on_a_date_outside_the_fee_files_says_why(scrub: Any) -> None:
    result = scrub(**OUTSIDE_FEE_FILES, **ytd(2990.0), services=[{"code": "97110", "minutes": 30}])
    [review] = hits(result, "K002")
    assert line_of(result, "97110").expected_why in review.message and "$10.00 under the $3000" in review.message


def test_review_a_year_without_a_figure_says_so(scrub: Any) -> None:
    [review] = hits(scrub(date="2030-03-04", **ytd(3500.0), services=[{"code": "97110", "minutes": 30}]), "K002")
    assert "medicare-payment.toml has no figure for 2030" in review.message


# --- the same from the ledger, on SQLite and PostgreSQL ----------------------------------------------------


@pytest.fixture
def ledger(ledger_url: str) -> Any:
    engine = open_ledger(ledger_url)
    yield engine
    engine.dispose()


def _visit(**fields: Any) -> Any:
    defaults = {"patient": {"id": "P900"}, "services": [{"code": "97110", "minutes": 30}]}
    return decode_visit(visit_json(**{**defaults, **fields}))


def _allowed_on_the_ledger(ledger: Any, amount: str, **fields: Any) -> None:
    """Post an earlier visit, then record what the remittance said Medicare allowed on it."""
    earlier = _visit(id="earlier", **fields)
    post_visit(ledger, earlier, Scrubber(history=LedgerHistory(ledger)).scrub(earlier))
    with ledger.begin() as connection:
        connection.execute(update(PostedVisit).where(PostedVisit.id == "earlier").values(allowed=Decimal(amount)))


def _scrub_on_the_ledger(ledger: Any, **fields: Any) -> ScrubResult:
    return Scrubber(history=LedgerHistory(ledger)).scrub(_visit(id="now", **fields))


def test_ledger_past_the_threshold_a_code_without_a_fee_takes_kx(ledger: Any) -> None:
    _allowed_on_the_ledger(ledger, "2600.00", date="2026-03-02")
    result = _scrub_on_the_ledger(ledger, services=[{"code": "97110", "minutes": 30}, {"code": "0770T"}])
    assert modifiers(result) == {"97110": ["GP", "KX"], "0770T": ["GP", "KX"]}
    [kx] = hits(result, "K001")
    assert "$2600.00 before this visit (from the ledger) is at or past the $2480 KX threshold" in kx.message


def test_ledger_past_the_threshold_outside_the_fee_files_takes_kx(ledger: Any) -> None:
    _allowed_on_the_ledger(ledger, "2500.00", date="2019-03-04", diagnoses=["M54.5"])
    result = _scrub_on_the_ledger(ledger, **OUTSIDE_FEE_FILES)
    assert modifiers(result) == {"97110": ["GP", "KX"]}
    assert "(from the ledger) is at or past the $2040 KX threshold" in hits(result, "K001")[0].message
    [review] = hits(result, "K002")
    assert "$2500.00 before, from the ledger" in review.message and "could not be checked" in review.message


def test_ledger_below_a_code_without_a_fee_is_named(ledger: Any) -> None:
    _allowed_on_the_ledger(ledger, "2470.00", date="2026-03-02")
    result = _scrub_on_the_ledger(ledger, services=[{"code": "0770T"}, {"code": "97110", "minutes": 30}])
    assert modifiers(result) == {"0770T": ["GP"], "97110": ["GP", "KX"]}
    undecided = [f.message for f in hits(result, "K001") if "could not be decided" in f.message]
    assert len(undecided) == 1 and "(from the ledger) leaves $10.00 under the $2480 KX threshold" in undecided[0]


def test_ledger_new_patient_below_a_date_outside_the_fee_files_is_named(ledger: Any) -> None:
    result = _scrub_on_the_ledger(ledger, **OUTSIDE_FEE_FILES)
    [kx] = hits(result, "K001")
    assert kx.message.startswith("KX could not be decided for 97110: no fee estimate for 97110 (")
    assert "$0.00 before this visit (from the ledger)" in kx.message
