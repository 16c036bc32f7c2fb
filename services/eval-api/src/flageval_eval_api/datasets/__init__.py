"""Datasets an administrator registers (SPEC §6): card + JSONL in the object store, one row per
version in ``registered_datasets``, merged into the catalog."""
