"""Catalog: datasets, tasks and adaptation methods per domain, card types, model types."""
