"""``GET /v1/patients/{patient_id}``: what the ledger holds for a patient and where they stand on a date of
service (``rehabclaim ledger show --json``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, DatabaseDep, ReferenceDep
from rehabclaim.api.openapi import returns
from rehabclaim.api.responses import StructResponse
from rehabclaim.services import patients

router = APIRouter(prefix="/v1", tags=["patients"])


@router.get("/patients/{patient_id}", responses=returns(patients.PatientState, "The patient's record and standing"))
def patient(
    patient_id: str,
    database: DatabaseDep,
    reference: ReferenceDep,
    _actor: ActorDep,
    date: Annotated[
        str | None, Query(max_length=10, description="Date of service, YYYY-MM-DD (default: the latest visit's)")
    ] = None,
) -> Response:
    state = patients.patient_state(database, reference=reference, patient_id=patient_id, day=date)
    return StructResponse(state)
