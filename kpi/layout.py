"""Where things sit in a return template: sheet names, named cells, version stamp (no heavy imports)."""

from __future__ import annotations

TEMPLATE_VERSION = "PARASAT-4.2026.3"
# Versions whose evidence sheet holds one document in each task row (no documents sheet); still read.
LEGACY_TEMPLATE_VERSIONS: tuple[str, ...] = ("PARASAT-4.2026.2",)
SUPPORTED_TEMPLATE_VERSIONS: tuple[str, ...] = (TEMPLATE_VERSION, *LEGACY_TEMPLATE_VERSIONS)
RETURN_SHEET = "Есеп"
INSTRUCTIONS_SHEET = "Нұсқаулық"
VALUE_COLUMN = "C"
META_NAMES = ("meta_entity", "meta_entity_type", "meta_period", "meta_template_version")
YES_NO = {"kk": ("Иә", "Жоқ"), "ru": ("Да", "Нет"), "en": ("Yes", "No")}
FIRST_DATA_ROW = 10
