from __future__ import annotations

from datetime import date

import pytest

from rehabclaim.catalog import load_catalog, search_codes
from rehabclaim.catalog.codes import _parse_code
from rehabclaim.datafiles import DataFileError

REQUIRED = [
    "97161",
    "97162",
    "97163",
    "97164",
    "97165",
    "97166",
    "97167",
    "97168",
    "92507",
    "92508",
    "92521",
    "92522",
    "92523",
    "92524",
    "92526",
    "92610",
    "97010",
    "97012",
    "97014",
    "G0283",
    "97016",
    "97018",
    "97022",
    "97024",
    "97026",
    "97028",
    "97032",
    "97033",
    "97034",
    "97035",
    "97036",
    "97039",
    "97110",
    "97112",
    "97113",
    "97116",
    "97124",
    "97129",
    "97130",
    "97139",
    "97140",
    "97150",
    "97530",
    "97533",
    "97535",
    "97537",
    "97542",
    "97750",
    "97755",
    "97760",
    "97761",
    "97763",
    "97762",
    "97799",
    "0770T",
    "0771T",
    "0772T",
    "0773T",
    "0774T",
    "L3000",
    "L1906",
    "L3809",
]


def test_catalog_holds_every_required_code_with_a_source() -> None:
    catalog = load_catalog()
    for code in REQUIRED:
        found = catalog.get(code)
        assert found is not None, code
        assert found.source and found.description
    for modifier in ["GP", "GO", "GN", "CQ", "CO", "KX", "GA", "59", "XE", "XS", "XP", "XU", "25", "95"]:
        assert modifier in catalog.modifiers


def test_dated_facts_on_each_side_of_a_change() -> None:
    catalog = load_catalog()
    deleted, replacement, xr = catalog.codes["97762"], catalog.codes["97763"], catalog.codes["0770T"]
    assert deleted.valid_on(date(2017, 12, 31)) and not deleted.valid_on(date(2018, 1, 1))
    assert deleted.replaced_by == "97763"
    assert not replacement.valid_on(date(2017, 12, 31)) and replacement.valid_on(date(2018, 1, 1))
    assert not xr.valid_on(date(2022, 12, 31)) and xr.valid_on(date(2023, 1, 1))


def test_timed_and_add_on_facts() -> None:
    catalog = load_catalog()
    assert catalog.codes["97110"].timed and not catalog.codes["97010"].timed
    assert not catalog.codes["97150"].timed and not catalog.codes["97161"].timed
    assert "97110" in catalog.codes["0770T"].addon_of and "97116" not in catalog.codes["0770T"].addon_of
    assert catalog.codes["0772T"].addon_of == ("0771T",)
    assert catalog.get(" 97760 ") is catalog.codes["97760"]


def test_bad_catalog_row_names_the_code_and_field() -> None:
    with pytest.raises(DataFileError, match="code 97110: field 'timed' must be bool"):
        _parse_code(
            {
                "code": "97110",
                "kind": "CPT",
                "category": "procedure",
                "disciplines": ["PT"],
                "description": "x",
                "timed": "yes",
                "therapy": True,
                "source": "s",
            },
            0,
        )
    with pytest.raises(DataFileError, match="'kind' must be one of"):
        _parse_code({"code": "X", "kind": "CPT4", "category": "procedure", "disciplines": []}, 0)


@pytest.mark.parametrize(
    ("query", "expected_first"),
    [
        ("orthotic training", "97760"),
        ("therex", "97110"),
        ("NMR", "97112"),
        ("MT", "97140"),
        ("TA", "97530"),
        ("HP/CP", "97010"),
        ("US", "97035"),
        ("gait", "97116"),
        ("ionto", "97033"),
        ("97763", "97763"),
        ("dysphagia", "92526"),
    ],
)
def test_search_understands_shorthand(query: str, expected_first: str) -> None:
    hits = search_codes(query)
    assert hits and hits[0].code.code == expected_first


def test_search_e_stim_finds_the_stimulation_codes_first() -> None:
    top = {hit.code.code for hit in search_codes("e-stim", 3)}
    assert top == {"97014", "97032", "G0283"}


def test_search_ranks_deleted_code_below_its_replacement() -> None:
    codes = [hit.code.code for hit in search_codes("orthotic")]
    assert codes.index("97763") < codes.index("97762")


def test_search_with_no_match_is_empty() -> None:
    assert search_codes("zebra xylophone") == []
