"""The API's routes, one module per resource (each a thin adapter: parse, call one service, respond)."""

from fastapi import APIRouter

from rehabclaim.api.routes import (
    admin,
    assistant,
    audit,
    claims,
    codes,
    denials,
    fees,
    health,
    imports,
    incoming,
    patients,
    payers,
    remittances,
    reports,
    rules,
    scrub,
    tokens,
    visits,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    scrub.router,
    codes.router,
    fees.router,
    payers.router,
    rules.router,
    patients.router,
    visits.router,
    claims.router,
    incoming.router,
    remittances.router,
    denials.router,
    reports.router,
    audit.router,
    tokens.router,
    admin.router,
    assistant.router,
    imports.router,
)
