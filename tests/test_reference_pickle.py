"""A Reference survives pickling (Spark broadcasts it so) whether its classes are plain Python or compiled by
mypyc: scripts/compile compiles catalog/codes and reference, which pickle by their fields through
``__reduce__`` (mypyc's own pickling sets attributes one by one, which a frozen dataclass refuses). The
unpickled Reference scrubs to the same bytes. The unit fee's hash (the fee outcome cache's key) stays
consistent with its equality."""

from __future__ import annotations

import json
import pickle
import random
from dataclasses import fields, replace
from datetime import date
from decimal import Decimal

from rehabclaim.catalog import Catalog, Code
from rehabclaim.fees.estimate import UnitFee
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber
from tests.fuzzing import bench_module


def test_catalog_pickles_by_every_field() -> None:
    reference = load_reference()
    again = pickle.loads(pickle.dumps(reference))
    assert type(again) is type(reference)
    assert isinstance(again.catalog, Catalog)
    assert again.catalog == reference.catalog
    code = reference.catalog.codes["97110"]
    copied = again.catalog.codes["97110"]
    assert isinstance(copied, Code)
    # every field, in the order Code() takes them (a field added to Code must not be dropped or shifted)
    assert [getattr(copied, f.name) for f in fields(Code)] == [getattr(code, f.name) for f in fields(Code)]
    assert hash(copied) == hash(code)
    assert again.catalog.modifiers == reference.catalog.modifiers
    assert again.payers == reference.payers
    assert again.payer("Some Unlisted Plan").key == "some unlisted plan"


def test_unpickled_reference_scrubs_to_the_same_bytes() -> None:
    reference = load_reference()
    again = pickle.loads(pickle.dumps(reference))
    generator = bench_module("generate")
    rng = random.Random(3)
    visits = [json.dumps(generator.visit(rng, n, date(2026, 4, 1))).encode() for n in range(1, 201)]
    before, after = Scrubber(reference), Scrubber(again)
    assert [after.scrub_json(v) for v in visits] == [before.scrub_json(v) for v in visits]


def test_unit_fee_hash_agrees_with_equality() -> None:
    fee = UnitFee(Decimal("31.22"), Decimal("10.5"), "formula A", Decimal("29.00"), Decimal(50), Decimal(85), True)
    assert hash(replace(fee)) == hash(fee) and replace(fee) == fee
    other = replace(fee, formula="formula B")
    assert other != fee
    assert {fee: 1, other: 2}[replace(fee)] == 1
