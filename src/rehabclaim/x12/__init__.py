"""X12 5010 in and out: 837P professional claims written from typed models, 835 remittances read into
typed models. ``core`` holds what both share: separators, segments, the envelope."""
