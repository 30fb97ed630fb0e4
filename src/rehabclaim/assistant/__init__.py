"""The coding assistant: a therapist's note read into proposed services (``notes``), with the words it reads
in a data file (``phrases``, ``data/assistant/phrases.toml``) and the time grammar in ``times``."""

from rehabclaim.assistant.notes import CodeFacts, NoteReading, Proposal, Question, read_note
from rehabclaim.assistant.phrases import PhraseTable, load_phrase_table

__all__ = ["CodeFacts", "NoteReading", "PhraseTable", "Proposal", "Question", "load_phrase_table", "read_note"]
