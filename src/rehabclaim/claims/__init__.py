"""Claims out: visits scrubbed into 837P interchanges and CMS-1500 data, with control numbers kept in the
ledger and claims sent recorded for matching remittances."""
