"""The rules: every rule id with its severity and summary, and one rule's documentation."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep
from rehabclaim.api.openapi import returns
from rehabclaim.api.responses import StructResponse
from rehabclaim.services import rules

router = APIRouter(prefix="/v1/rules", tags=["rules"])


@router.get("", responses=returns(list[rules.RuleDoc], "Every rule, in the engine's order"))
def list_rules(_actor: ActorDep) -> Response:
    return StructResponse(rules.list_rules())


@router.get("/{rule_id}", responses=returns(rules.RuleDoc, "What the rule checks, why, an example, the fix"))
def rule(rule_id: str, _actor: ActorDep) -> Response:
    return StructResponse(rules.rule(rule_id=rule_id))
