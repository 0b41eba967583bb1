"""Shared test helpers (reference implementations, corpora, server runners)."""
