"""Payer policies: which unit method, modifiers, limits and coverage each payer applies."""

from rehabclaim.payers.policy import PayerPolicy, configured_payers, payer_policy, payer_table

__all__ = ["PayerPolicy", "configured_payers", "payer_policy", "payer_table"]
