"""Evaluations (评测实例): what a user wants evaluated, in one of the five domains."""
