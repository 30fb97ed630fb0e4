"""The scrub's pipeline: the stages that build and change a visit's claim lines, in order.

lines (``rehabclaim.lines``) -> units (``rehabclaim.units``) -> modifiers (discipline, assistant, distinct,
telehealth: ``rehabclaim.pipeline.modifiers``) -> fees (``rehabclaim.fees``) -> KX (``rehabclaim.pipeline.kx``)
-> checks (the rules) -> claim (the claim-data rules, when a claim is built). Each stage that changes a line
records what it decided, and why, on the line (``WorkLine``) or the visit (``ScrubContext``); the rules of the
same name read that record and only report (``rehabclaim.rules``). This module imports nothing, so the context
can import the decision records (``rehabclaim.pipeline.decisions``) without a cycle.
"""

# the scrub's stages in the order the Scrubber runs them (the README names them in this order)
STAGES = ("lines", "units", "modifiers", "fees", "KX", "checks", "claim")
# the modifier stages in order: the order in which their modifiers follow the discipline and assistant ones
MODIFIER_STAGES = ("discipline", "assistant", "distinct", "telehealth")
