"""The ``rehabclaim`` command line."""
