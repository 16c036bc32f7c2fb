"""Runs of evaluations: version history, dataset progress, metrics, validation samples."""
