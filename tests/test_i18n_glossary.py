"""The glossary (kpi/data/glossary.yaml): one term per concept, no avoided word in any message or label."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from kpi.catalogue import DATA_DIR, LANGUAGES
from kpi.i18n import messages

GLOSSARY: list[dict[str, Any]] = yaml.safe_load((DATA_DIR / "glossary.yaml").read_text(encoding="utf-8"))["terms"]


def texts(value: Any) -> list[str]:
    return list(value.values()) if isinstance(value, dict) else [value]


def catalogue_labels() -> Iterator[tuple[str, str, str]]:
    """(where, language, text) for every ru/en label, short label and title of the catalogue."""
    catalogue = yaml.safe_load((DATA_DIR / "catalogue.yaml").read_text(encoding="utf-8"))

    def walk(node: Any, path: str) -> Iterator[tuple[str, str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("label", "short", "title") and isinstance(value, dict):
                    for lang in ("ru", "en"):
                        if isinstance(value.get(lang), str):
                            yield f"{path}.{key}", lang, value[lang]
                else:
                    walk_id = node.get("id") or node.get("code") or key
                    yield from walk(value, f"{path}/{walk_id}")
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, path)

    yield from walk(catalogue, "catalogue")


CATALOGUE_LABELS = list(catalogue_labels())
# A term whose scope is "messages" names something else in the catalogue (a body's own guidelines).
IN_CATALOGUE = [term for term in GLOSSARY if term.get("scope", "all") != "messages"]


def test_glossary_is_complete() -> None:
    concepts = [term["concept"] for term in GLOSSARY]
    assert len(concepts) == len(set(concepts)) >= 15
    for term in GLOSSARY:
        assert {"kk", "ru", "en", "avoid", "note"} <= set(term), term["concept"]
        for lang in LANGUAGES:
            assert term[lang]["term"], (term["concept"], lang)
            for pattern in term["avoid"].get(lang, []):
                re.compile(pattern)


@pytest.mark.parametrize("term", GLOSSARY, ids=[t["concept"] for t in GLOSSARY])
def test_no_message_uses_an_avoided_term(term: dict[str, Any]) -> None:
    bad = []
    for key, entry in messages().items():
        if key in term.get("except_keys", []):
            continue
        for lang in LANGUAGES:
            for pattern in term["avoid"].get(lang, []):
                for text in texts(entry[lang]):
                    if re.search(pattern, text, re.IGNORECASE):
                        bad.append(f"{key} ({lang}) has /{pattern}/: {text}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("term", IN_CATALOGUE, ids=[t["concept"] for t in IN_CATALOGUE])
def test_no_catalogue_label_uses_an_avoided_term(term: dict[str, Any]) -> None:
    bad = [f"{where} ({lang}): {text}" for where, lang, text in CATALOGUE_LABELS
           for pattern in term["avoid"].get(lang, []) if re.search(pattern, text, re.IGNORECASE)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("term", GLOSSARY, ids=[t["concept"] for t in GLOSSARY])
def test_messages_of_a_concept_use_its_term(term: dict[str, Any]) -> None:
    for key in term.get("used_in", []):
        assert key in messages(), key
        for lang in LANGUAGES:
            for text in texts(messages()[key][lang]):
                assert re.search(term[lang]["find"], text, re.IGNORECASE), (term["concept"], key, lang, text)


def test_distinct_concepts_have_distinct_words() -> None:
    """«Орындалды» once meant both a target met and a task done; «Бұғаттау» both disabling and a lock-out."""
    for a, b in [("status.met", "evidence.status.done"), ("admin.disable", "auth.locked"),
                 ("compliance.status.late", "submissions.count_pending"), ("tile.target", "compliance.col.subject")]:
        for lang in LANGUAGES:
            assert messages()[a][lang] != messages()[b][lang], (a, b, lang)
    by_concept = {term["concept"]: term for term in GLOSSARY}
    for a, b in [("target_met", "task_done"), ("locked_out", "disable_account"), ("download", "upload")]:
        for lang in ("kk", "ru"):
            assert by_concept[a][lang]["term"] != by_concept[b][lang]["term"], (a, b, lang)


def test_the_avoid_check_catches_the_old_wording() -> None:
    """Replays the issue's wording against the glossary: each old text must be caught."""
    old = {"kk": ["Дәлелдер", "№ 4 ҮББ: барлық көрсеткіштер бір қарағанда", "Мерзімі өткен", "PDF жүктеу",
                  "{sign}{value} п.п.", "Кезеңділіктен төмен", "Нысана", "Нысан", "Бұғаттау",
                  "Нұсқаулық талап ететін құжат", "ҮББ № 4 көрсеткіштері", "Өсу қорытындысы төмендеді"],
           "ru": ["Доказательства", "Цель", "Нет цели", "Документ по руководству", "Профилактика и противодействие",
                  "Сдача отчётов", "Отчёт подан поздно", "Ниже периодичности", "Уволенные ранее нарушившие сотрудники"],
           "en": ["Evidence", "Below cadence", "Return filed late", "every KPI at a glance"]}
    for lang, samples in old.items():
        patterns = [p for term in GLOSSARY for p in term["avoid"].get(lang, [])]
        for sample in samples:
            assert any(re.search(p, sample, re.IGNORECASE) for p in patterns), (lang, sample)
