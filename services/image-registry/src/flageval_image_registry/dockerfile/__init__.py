"""Dockerfile parsing and review findings for custom image imports (pure, no I/O)."""

from .findings import Finding, review_dockerfile
from .parser import Dockerfile, Instruction, parse

__all__ = ["Dockerfile", "Finding", "Instruction", "parse", "review_dockerfile"]
