"""Parasat: KPI returns, validation and computation for Type Basic Direction No. 4 (anti-corruption)."""

__version__ = "0.1.0"
