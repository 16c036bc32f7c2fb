"""Runs the FlagEval platform (standalone or mesh)."""
