"""Remittances in: CARC/RARC meanings, posting an 835 to the ledger, and the denials worklist."""
