"""Loaders for the rule files CMS publishes (NCCI PTP, MUE, PFS relative values and GPCIs), in their
published layouts, so users can drop in each quarter's files without a new release."""
