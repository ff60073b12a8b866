"""Fingerprints of content: PDQ (with quality and dihedral variants), vPDQ, MD5, SHA-256."""

from deepshield.signals.types import SignalType

__all__ = ["SignalType"]
