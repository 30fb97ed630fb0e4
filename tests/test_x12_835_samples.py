"""Every public 835 sample (tests/fixtures/x12 and more-835/, licences in their README and MANIFEST.tsv) is
either read, and then agrees claim by claim with oxedi and pyx12, or refused with an X12Error naming the
segment, and then pyx12 rejects it too. A file pyx12 rejects only for a code outside a code list (a state, a
remark code) is read, and lists that code in ``code_problems`` at the very segment and element pyx12 names.
The table below is the expected outcome of each file: a change in
behaviour fails here. Derived files (a real sample with a BOM, indented, padded, wrapped, batched with
another interchange, ...) check the envelope handling on shapes no sample has."""

from __future__ import annotations

import io
import json
import logging
import re
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import msgspec
import oxedi
import pytest

from rehabclaim.remits.codes import code_table
from rehabclaim.x12 import remit835
from rehabclaim.x12.core import X12Error, interchanges, iter_segments, read_separators
from rehabclaim.x12.remit835 import Remittance, read_835
from tests.fuzzing import pyx12_verdict

SAMPLES = Path(__file__).parent / "fixtures" / "x12"


@dataclass(frozen=True)
class Read:
    payments: int
    claims: int
    lines: int
    imbalances: int = 0
    # (segment, element, value) of each code outside its list: read, and where pyx12 rejects the file
    code_problems: tuple[tuple[int, str, str], ...] = ()


@dataclass(frozen=True)
class Refused:
    segment: int
    reason: str  # the start of the X12Error's reason
    pyx12_raises: bool = False  # pyx12 cannot even open it (no map for its version, or it crashes)


EXPECTED: dict[str, Read | Refused] = {
    "QRP_52192_L500_HBVA010119.835": Read(2, 3, 9, imbalances=2),
    "QRP_52563_L087_HNUA090119.835": Read(3, 79, 365),
    "QRP_60054_LF23_HAEA010119.835": Read(8, 37, 546),
    "QRP_60054_LF86_HAEA010119.835": Read(2, 24, 590),
    "QRP_60054_LK81_HAEA010119.835": Read(7, 79, 589, 2, ((24, "MOA03", "MA15"), (125, "MOA03", "MA15"))),
    "bcbs-nc-no-envelope.835": Refused(1, "the file does not start with an ISA interchange header (no envelope)"),
    "edi835parser-sample.835": Read(2, 6, 12),
    "emedny-sample.835": Read(1, 3, 10),
    "pyx12-mult-loops.835": Read(1, 1, 3),
    "uhc-legacy-sample.835": Read(1, 2, 5, code_problems=((16, "N402", "NP"),)),
    "more-835/835Parser__Sample_1.DON.835": Refused(1, "the file does not start with an ISA interchange header"),
    "more-835/TigerShark__835-example-2.835": Refused(1, "ISA12 '00401' is not 00501: a 4010 interchange"),
    "more-835/TigerShark__835-example.835": Refused(1, "ISA12 '00401' is not 00501: a 4010 interchange"),
    "more-835/TigerShark__sample_835.835": Refused(1, "ISA12 '00401' is not 00501", pyx12_raises=True),
    "more-835/badX12__X221-dollars-and-data-sent-separate.835": Read(1, 2, 2),
    "more-835/badX12__X221-dollars-and-data-sent-together.835": Read(1, 2, 0),
    "more-835/badX12__X221-era-sample.835": Read(1, 1, 5),
    "more-835/badX12__X221-multiple-claims-single-check.835": Read(1, 9, 33),  # one CLP01, nine patients
    "more-835/badX12__X221-secondary-payment-with-higher-fee-schedule.835": Read(1, 1, 1),
    "more-835/badX12__X221-secondary-payments.835": Read(1, 2, 2),
    "more-835/badX12__X221-tertiary-payments.835": Read(1, 1, 1),
    "more-835/badX12__error_validation.835": Refused(29, "SE01 says 30 segments, the transaction has 27", True),
    "more-835/edi-835-parser__QRP_39180_LQ10_NG6A010119.835": Read(2, 5, 6),
    "more-835/edi-835-parser__QRP_52106_LQ43_P1VA010118.835": Read(1, 1, 1),
    "more-835/edi-835-parser__QRP_52192_L156_PBVA010119.835": Read(1, 1, 1),
    "more-835/edi-835-parser__QRP_52192_LK40_HBVA010119.835": Read(6, 11, 15),
    "more-835/edi-835-parser__QRP_52192_LK40_HBVA010119_2.835": Read(1, 1, 2),
    "more-835/edi-835-parser__QRP_52192_LM18_HBVA010119.835": Read(2, 5, 62),
    "more-835/edi-835-parser__QRP_52192_LM51_HBVA010119.835": Read(1, 1, 1),
    "more-835/edi-835-parser__QRP_52192_LN08_HBVA010119.835": Read(1, 1, 1),
    "more-835/edi-835-parser__QRP_52192_LQ25_PBVA010119.835": Read(1, 1, 1),
    "more-835/edi-835-parser__QRP_52192_LQ29_PBVA010119.835": Read(4, 6, 6),
    "more-835/edi-835-parser__QRP_52563_L087_HNUA070119.835": Read(1, 147, 793),
    "more-835/edi-835-parser__QRP_52563_L087_HNUA120119.835": Read(4, 252, 1463),
    "more-835/edi-835-parser__QRP_52563_L087_HNUA130119.835": Read(5, 192, 659),
    "more-835/edi-835-parser__QRP_52563_L087_PNUA830119.835": Read(8, 380, 610),
    "more-835/edi-835-parser__QRP_52563_L096_HNUA010119.835": Read(11, 181, 475),
    "more-835/edi-835-parser__QRP_52563_L096_PNUA010119.835": Read(1, 2, 2),
    "more-835/edi-835-parser__QRP_52563_L117_HNUA010119.835": Read(3, 191, 977),
    "more-835/edi-835-parser__QRP_52563_LE65_HNUA010119.835": Read(1, 2, 29),
    "more-835/edi-835-parser__emedny_sample.835": Read(1, 3, 10),
    "more-835/edi-835-parser__exhaustive_sample.835": Refused(1, "the file does not start with an ISA"),
    "more-835/edi-835-parser__modified_quadax_sample_835.835": Read(2, 6, 12),
    "more-835/edi-835-parser__sample2_835.835": Read(1, 50, 282),
    "more-835/edi-835-parser__sample_835.835": Refused(23, "CAS01 'grp_code' is not an adjustment group code", True),
    "more-835/edi-835-parser__sample_835_with_interests.835": Refused(23, "CAS01 'grp_code' is not an adjustment"),
    "more-835/edi-x12-healthcare-demo__multiple-claims-single-check.835": Refused(
        185, "SE01 says 182 segments, the transaction has 183"
    ),
    **{
        f"more-835/py835__X221-coordination-of-benefits-example-{example}.835": Read(1, 1, lines)
        for example, lines in (
            ("1a", 0),
            ("1b", 1),
            ("2a", 0),
            ("2b", 1),
            ("3a", 0),
            ("3b", 1),
            ("4aa", 0),
            ("4ab", 1),
            ("4ba", 0),
            ("5a", 0),
            ("5b", 1),
            ("6a", 0),
            ("6b", 1),
            ("7a", 0),
            ("7b", 1),
            ("8a", 0),
            ("8b", 1),
            ("9b", 1),
        )
    },
    "more-835/py835__X221-correcting-the-subscriber-example-2.835": Read(1, 1, 1),
    "more-835/py835__X221-correcting-the-subscriber-example-3.835": Read(1, 1, 1),
    "more-835/py835__X221-line-service-line-penalty-tax-or-bonuses-impacting-payment-only-example-2.835": Read(1, 1, 1),
    "more-835/py835__X221-line-service-line-penalty-tax-or-bonuses-impacting-payment-only-example-3.835": Read(1, 1, 1),
    "more-835/pyx12__bad_header_looping.835": Refused(2, "a 4010 835 (GS08 004010X091A1): only 005010X221A1 is read"),
    "more-835/pyx12__mult_isa.835": Refused(2, "a 4010 file (GS01 'HI') (GS08 004010X094A1): only 005010X221A1"),
    "more-835/pyx12__mult_trn.835": Refused(2, "a 4010 file (GS01 'HI') (GS08 004010X094A1)"),
    "more-835/x12-parser__errorISA.835": Refused(35, "IEA02 '006000600' does not match ISA13 '106000600' (segment 1)"),
    "more-835/x12-parser__multiLineNotDelimited.835": Refused(
        28953, "SE01 says 31 segments, the transaction has 28951"
    ),
    # the same interchange repeated (same ISA13, same payment trace): pyx12 names the same segment
    "more-835/x12-parser__oneLine-2-ISA.835": Refused(36, "ISA13 '006000600' is also the control number of the"),
    "more-835/x12-parser__oneLine.835": Refused(36, "ISA13 '006000600' is also the control number"),
    "more-835/x12-parser__profee-multiple.835": Refused(70, "ISA13 '006000600' is also the control number"),
    "more-835/x12__cob-contractural-adjustment.835": Refused(
        21, "SVC01 'HC>55669' separates its parts with '>', but ISA16 declares ':' as the component separator"
    ),
    "more-835/x12__demo.835": Refused(27, "segment id 'CAS_CO' is not an X12 segment id"),
    "more-835/x12__secondary-payment.835": Refused(29, "SVC01 'HC>12345>26' separates its parts with '>'"),
    "more-835/x12__tertiary-payment.835": Refused(20, "SVC01 has no procedure code"),
}


def test_the_table_covers_every_sample() -> None:
    on_disk = {p.relative_to(SAMPLES).as_posix() for p in [*SAMPLES.glob("*.835"), *SAMPLES.glob("more-835/*.835")]}
    assert on_disk == set(EXPECTED)
    listed = [line.split("\t")[0] for line in (SAMPLES / "more-835" / "MANIFEST.tsv").read_text().splitlines()[1:]]
    assert {f"more-835/{name}" for name in listed} == {name for name in EXPECTED if name.startswith("more-835/")}


def pyx12_code_errors(path: Path) -> list[tuple[int, str, str]]:
    """(segment, element, value) of every element pyx12 rejects, from its error report: the tree its 999 is
    written from (IK3 segment, IK4 element position, IK403 error code, IK404 the bad value). Its 999 writer
    itself fails on an 835 without ST03 (``err_st.vriic was not set``), so the JSON report of the same tree
    is read; the segment is its file position (cur_line; IK302 counts from ST). Only code errors (IK403 7,
    "invalid code value") are expected here: any other error fails the test."""
    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    report = io.StringIO()
    pyx12.x12n_document.x12n_document(
        param=pyx12.params.params(), src_file=str(path), fd_997=None, fd_html=None, fd_json=report, map_path=None
    )
    found = []
    for interchange in json.loads(report.getvalue())["interchanges"]:
        for group in interchange["groups"]:
            for transaction in group["transactions"]:
                for segment in transaction["segments"]:
                    assert not segment["errors"], segment
                    for element in segment["elements"]:
                        for error in element["errors"]:
                            assert error["err_cde"] == "7", error
                            name = f"{segment['seg_id']}{element['ele_pos']:02d}"
                            found.append((segment["cur_line"], name, error["err_val"]))
    return found


def pyx12_codesets() -> dict[str, frozenset[str]]:
    """Every codeset of pyx12's map/codes.xml, by id."""
    import pyx12

    root = ET.parse(Path(pyx12.__file__).parent / "map" / "codes.xml").getroot()
    return {str(c.findtext("id")): frozenset(str(code.text) for code in c.iter("code")) for c in root.iter("codeset")}


def test_the_code_lists_are_pyx12s() -> None:
    """data/x12-835-codes.toml holds pyx12's lists as they are; the RARCs our CARC/RARC table explains are
    all in the list the reader checks (the scrub never explains a code the reader calls unknown)."""
    codesets = pyx12_codesets()
    assert codesets["states"] == remit835.STATES and len(remit835.STATES) == 73
    assert codesets["remark_code"] == remit835.REMARK_CODES and len(remit835.REMARK_CODES) > 900
    assert set(code_table().rarc) <= remit835.REMARK_CODES
    source = tomllib.loads((Path(remit835.__file__).parents[1] / "data" / remit835.CODE_TABLE).read_text())
    assert "MA15" not in source["external"]["remark_codes"] and "NP" not in source["external"]["states"]


def pyx12_claims(path: Path) -> list[tuple[str, Decimal, Decimal, int]]:
    """CLP01, CLP03, CLP04 and the number of 2110 service loops of each claim, by pyx12's loop-aware reader."""
    import pyx12.error_handler
    import pyx12.params
    import pyx12.x12context

    text = path.read_text(encoding="latin-1")
    reader = pyx12.x12context.X12ContextReader(
        pyx12.params.params(), pyx12.error_handler.errh_null(), io.StringIO(text)
    )
    return [
        (
            node.get_value("CLP01"),
            Decimal(node.get_value("CLP03")),
            Decimal(node.get_value("CLP04")),
            len(list(node.select("2110"))),
        )
        for node in reader.iter_segments("2100")
        if node.id == "2100"
    ]


def oxedi_claims(data: bytes) -> list[tuple[str, Decimal, Decimal, int]]:
    """The same four facts by oxedi's typed tables (claims, and services keyed by their claim's row)."""
    tables = oxedi.parse(data).tables
    claims = tables["claims"].to_pandas()
    services = tables["services"].to_pandas()
    lines = services["claim"].value_counts().to_dict()
    return [
        (claim_id.decode(), Decimal(charge), Decimal(paid), int(lines.get(row, 0)))
        for row, claim_id, charge, paid in zip(
            claims["row"], claims["claim_id"], claims["charge_amount"], claims["payment_amount"], strict=True
        )
    ]


def ours(remittance: Remittance) -> list[tuple[str, Decimal, Decimal, int]]:
    return [(claim.id, claim.charge, claim.paid, len(claim.lines)) for claim in remittance.claims]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_is_read_and_agrees_or_is_refused_by_name(name: str) -> None:
    path = SAMPLES / name
    expected = EXPECTED[name]
    verdict = pyx12_verdict(path)
    if isinstance(expected, Refused):
        with pytest.raises(X12Error) as refused:
            read_835(path.read_bytes())
        assert (refused.value.segment, refused.value.reason[: len(expected.reason)]) == (
            expected.segment,
            expected.reason,
        )
        assert verdict is (None if expected.pyx12_raises else False)  # pyx12 rejects it too
        return
    remittance = read_835(path.read_bytes())
    counts = (len(remittance.payments), len(remittance.claims), sum(len(c.lines) for c in remittance.claims))
    assert (*counts, len(remittance.imbalances)) == (
        expected.payments,
        expected.claims,
        expected.lines,
        expected.imbalances,
    )
    assert remittance.unknown_segments == []  # every segment of these files is one the 835 defines
    problems = [(problem.segment, problem.element, problem.value) for problem in remittance.code_problems]
    assert problems == list(expected.code_problems)
    assert all(problem.id == problem.element[:-2] for problem in remittance.code_problems)
    assert verdict is (not expected.code_problems)
    if expected.code_problems:  # pyx12 rejects it for these very codes, at these segments and elements
        assert pyx12_code_errors(path) == problems
    assert ours(remittance) == oxedi_claims(path.read_bytes())
    assert ours(remittance) == pyx12_claims(path)


# Derived files: a real sample reshaped the ways real files come, read exactly as the original.

BASE = "emedny-sample.835"  # one line, "*" ":" "~", ISA11 "^"
OTHER = "edi835parser-sample.835"  # ">" components, a line break after each segment


def base_text() -> str:
    return (SAMPLES / BASE).read_text(encoding="latin-1")


def as_json(remittance: Remittance) -> bytes:
    return msgspec.json.encode(remittance)


def wrapped(text: str, width: int = 80) -> str:
    flat = text.replace("\n", "")
    return "\r\n".join(flat[i : i + width] for i in range(0, len(flat), width)) + "\r\n"


@pytest.mark.parametrize(
    ("shape", "reshape"),
    [
        ("UTF-8 byte-order mark", lambda t: "\ufeff" + t),
        ("pretty-printed: a line each, indented", lambda t: t.replace("~", "~\n    ")),
        ("tab-indented, CRLF", lambda t: t.replace("~", "~\r\n\t")),
        ("Ctrl-Z after IEA", lambda t: t + "\x1a"),
        ("NUL padding after IEA", lambda t: t + "\r\n" + "\x00" * 300),
        ("wrapped at 80 columns", wrapped),
        ("wrapped at 80 columns with a BOM", lambda t: "\ufeff" + wrapped(t)),
        ("blank space before ISA", lambda t: "\r\n  " + t),
    ],
)
def test_layout_around_the_data_changes_nothing(shape: str, reshape: object) -> None:
    original = read_835(base_text())
    changed = reshape(base_text())  # type: ignore[operator]
    assert as_json(read_835(changed.encode("utf-8"))) == as_json(original), shape
    separators = read_separators(changed)
    assert (separators.element, separators.component, separators.segment) == ("*", ":", "~")


def test_isa11_u_with_a_caret_component_separator() -> None:
    """A 4010-style ISA11 "U" (no repetition separator) in a 5010 file whose composites use "^"."""
    text = base_text()
    isa, rest = text[:106], text[106:]
    changed = isa[:82] + "U" + isa[83:104] + "^" + isa[105] + rest.replace(":", "^")
    separators = read_separators(changed)
    assert (separators.component, separators.segment) == ("^", "~") and separators.repetition not in "*^~"
    assert as_json(read_835(changed)) == as_json(read_835(text))
    assert read_835(changed).claims[0].lines[0].modifiers == ["RB"]


def other_separators(text: str) -> str:
    """The same interchange written with "|" between elements, "!" after segments and "<" in composites."""
    assert not set("|!<") & set(text)
    return text.replace("*", "|").replace("~", "!").replace(":", "<")


def test_several_interchanges_each_with_its_own_separators_and_counts() -> None:
    first = (SAMPLES / OTHER).read_text(encoding="latin-1")
    second = other_separators(base_text())
    batched = first + "\r\n" + second + "\x1a"
    parts = list(interchanges(batched))
    assert [(s.element, s.component, s.segment) for s, _ in parts] == [("*", ">", "~"), ("|", "<", "!")]
    assert [len(list(iter_segments(text, s))) for s, text in parts] == [
        read_835(first).segments,
        read_835(second).segments,
    ]
    remittance = read_835(batched.encode())
    alone = read_835(first), read_835(base_text())
    assert ours(remittance) == ours(alone[0]) + ours(alone[1])
    assert [c.lines[0].modifiers for c in remittance.claims] == [
        c.lines[0].modifiers for c in alone[0].claims + alone[1].claims
    ]
    assert remittance.interchange_control_numbers == ["262477059", "006000600"]
    assert remittance.interchange_control_number == "262477059" and remittance.balanced
    assert remittance.claims[-1].segment == alone[0].segments + alone[1].claims[-1].segment


def test_a_later_interchange_that_cannot_be_read_is_named_by_its_segment() -> None:
    first = read_835(base_text())
    broken = base_text() + "ISA*00*short~"
    with pytest.raises(X12Error) as refused:
        read_835(broken)
    assert refused.value.segment == first.segments + 1
    assert "interchange 2: the ISA segment is shorter than 106 characters" in str(refused.value)


def test_text_after_the_last_iea_is_refused_naming_it() -> None:
    first = read_835(base_text())
    with pytest.raises(X12Error, match=rf"segment {first.segments + 1}: 'JUNK' before the ISA interchange header"):
        read_835(base_text() + "\nJUNK*1~")


@pytest.mark.parametrize(
    ("change", "segment", "message"),
    [
        ("GS*HP*EMEDNYBAT*ETIN*20100101*1050*6000600*X*004010X091A1", 2, "a 4010 835 (GS08 004010X091A1): only"),
        ("GS*HP*EMEDNYBAT*ETIN*20100101*1050*6000600*X*005010X222A1", 2, "GS08 '005010X222A1' is not 005010X221A1"),
        ("ST*835*1740*005010X220A1", 3, "ST03 '005010X220A1' is not GS08 '005010X221A1'"),
        ("SE*65*9999", 67, "SE02 '9999' does not match ST02 '1740' (segment 3)"),
        ("GE*1*6000601", 68, "GE02 '6000601' does not match GS06 '6000600' (segment 2)"),
        ("IEA*1*006000601", 69, "IEA02 '006000601' does not match ISA13 '006000600' (segment 1)"),
        ("SVC*HC>V2020>RB*6*6**1", 22, "SVC01 'HC>V2020>RB' separates its parts with '>', but ISA16 declares ':'"),
    ],
)
def test_envelope_and_version_mismatches_are_refused_naming_the_segment(
    change: str, segment: int, message: str
) -> None:
    tag = re.escape(change.split("*")[0])
    text = base_text()
    first = re.search(rf"(?:^|~){tag}\*[^~]*", text)
    assert first is not None
    start = first.start() + (text[first.start()] == "~")
    changed = text[:start] + change + text[first.end() :]
    assert changed != text
    with pytest.raises(X12Error) as refused:
        read_835(changed)
    assert refused.value.segment == segment and refused.value.reason.startswith(message), str(refused.value)


def test_a_4010_interchange_is_refused_by_isa12_when_gs08_is_not_reached() -> None:
    text = base_text().replace("*00501*", "*00401*", 1)
    with pytest.raises(X12Error, match=r"segment 1: ISA12 '00401' is not 00501: a 4010 interchange"):
        read_835(text.replace("~GS*", "~XX*", 1))


def test_remit_shows_each_code_problem_and_json_ends_with_them() -> None:
    """The CLI: one warning line per code problem naming segment, element and value; --json adds the list
    as its last field; the file is read and balanced all the same (exit 0)."""
    from typer.testing import CliRunner

    from rehabclaim.cli.main import app

    path = str(SAMPLES / "QRP_60054_LK81_HAEA010119.835")
    text = CliRunner().invoke(app, ["remit", "--all", path], env={"COLUMNS": "200"})
    warnings = [line for line in text.stdout.splitlines() if "MA15" in line]
    assert [line.split(":")[1].strip() for line in warnings] == ["segment 24", "segment 125"]
    assert all("MOA MOA03 'MA15' is not in the remark code list we hold" in line for line in warnings)
    uhc = CliRunner().invoke(app, ["remit", "--json", str(SAMPLES / "uhc-legacy-sample.835")])
    assert uhc.exit_code == 0
    read = json.loads(uhc.stdout)
    assert list(read)[-1] == "code_problems"
    assert [(p["segment"], p["id"], p["element"], p["value"]) for p in read["code_problems"]] == [
        (16, "N4", "N402", "NP")
    ]
