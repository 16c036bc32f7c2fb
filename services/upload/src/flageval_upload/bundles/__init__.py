"""Checks on uploaded bundles (a version of a model and its code)."""
