"""Code catalog: facts per code (dates, timed flag, add-on relations) and shorthand-aware search."""

from rehabclaim.catalog.codes import Catalog, Code, Modifier, load_catalog
from rehabclaim.catalog.search import SearchHit, search_codes

__all__ = ["Catalog", "Code", "Modifier", "SearchHit", "load_catalog", "search_codes"]
