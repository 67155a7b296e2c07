"""The version of framecast, in a module of its own so that anything can read it without importing more."""

__version__ = "0.1.0"
