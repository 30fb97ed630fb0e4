"""Fee estimates: the Medicare physician fee schedule and payers' own schedules (estimate.py)."""
