"""rehabclaim: documented therapy visits in, clean claim lines with findings out."""

__version__ = "0.1.0"
