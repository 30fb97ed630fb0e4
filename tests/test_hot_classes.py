"""The hot classes that write their own ``__init__`` (so that mypyc compiles it, scripts/compile) start every
field the constructor does not take at the default the class declares, as a generated one would."""

from __future__ import annotations

import dataclasses

from rehabclaim.catalog import load_catalog
from rehabclaim.lines import WorkLine


def test_workline_fields_not_passed_start_at_their_declared_defaults() -> None:
    line = WorkLine(load_catalog().codes["97110"], [0], 30, None, 0, None, set(), [], False, None, [], True)
    other = WorkLine(load_catalog().codes["97110"], [0], 30, None, 0, None, set(), [], False, None, [], True)
    checked = 0
    for field in dataclasses.fields(WorkLine):
        if field.default is not dataclasses.MISSING:
            assert getattr(line, field.name) == field.default, field.name
            checked += 1
        elif field.default_factory is not dataclasses.MISSING:
            assert getattr(line, field.name) == field.default_factory(), field.name
            assert getattr(line, field.name) is not getattr(other, field.name), f"{field.name} shared"
            checked += 1
    assert checked == 15  # every defaulted field (a new one must be set in __init__ too)
    assert line == other
    assert WorkLine(line.code, [0], 30, None, 0, None, set(), [], False, None, [], True, True).minutes_unknown


def test_workline_copies_and_pickles_with_every_field() -> None:
    import copy
    import pickle

    line = WorkLine(load_catalog().codes["97110"], [0, 2], 38, None, 8, 3, {"knee"}, ["GP"], True, "XU", [], True)
    line.units, line.assistant_modifier, line.notes, line.unit_amounts = 3, "CQ", ["a note"], None
    for again in (copy.deepcopy(line), copy.copy(line), pickle.loads(pickle.dumps(line))):
        assert again == line and again is not line
    deep = copy.deepcopy(line)
    assert deep.regions is not line.regions and deep.notes is not line.notes
