"""Payer policies: which unit method, modifiers, limits and coverage each payer applies."""

from rehabclaim.payers.policy import PayerPolicy, payer_table

__all__ = ["PayerPolicy", "payer_table"]
