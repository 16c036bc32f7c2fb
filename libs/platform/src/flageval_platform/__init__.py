"""Shared infrastructure of the FlagEval services."""
