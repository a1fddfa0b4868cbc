"""Plural and number rules of the interface texts (kpi/i18n.py, kpi/data/messages/*.yaml).

Every count message is rendered for 0, 1, 2, 5, 21 and 22 in kk, ru and en; the form must be the one
Babel's CLDR rules give, and a few forms are checked against what an editor writes by hand.
"""

from __future__ import annotations

import datetime as dt
import re
import string

import pytest

from kpi.catalogue import LANGUAGES
from kpi.i18n import agency_time, is_plural, messages, plural_category, plural_param, t

COUNTS = (0, 1, 2, 5, 21, 22)
PLURAL_KEYS = sorted(k for k in messages() if is_plural(k))
# The CLDR categories each language's plural forms must cover (Kazakh nouns stay singular after a numeral).
NEEDED = {"kk": {"other"}, "ru": {"one", "few", "many", "other"}, "en": {"one", "other"}}
# A number followed by one of these nouns needs the noun's plural form in Russian or English.
COUNTABLE = re.compile(
    r"\{(\w+)\}\s+(файл|ошиб|значени|квартал|слайд|дн[яей]|день|символ|секунд|байт|организац|сотрудник|задач"
    r"|file|error|figure|quarter|slide|day|character|second|byte|entit|task|KPIs|version)", re.IGNORECASE)
NOT_COUNTS = {"roman", "quarter", "year", "number", "kpi", "version"}  # labels, not quantities
# Kazakh case endings that must never be glued to a placeholder: "{n}-ден", "{n}-ге", "({limit} дейін)".
GLUED = re.compile(r"\}-?(ден|дан|тен|тан|нен|нан|ге|ға|ке|қа|не|на|ның|нің|дың|дің|тың|тің|ны|ні|ды|ді|ты|ті"
                   r"|да|де|та|те|нда|нде|мен|бен|пен|дай|дей|тай|тей)\b|\}\s+дейін")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def forms(key: str, lang: str) -> list[str]:
    text = messages()[key][lang]
    return list(text.values()) if isinstance(text, dict) else [text]


def params_for(key: str, count: int) -> dict[str, object]:
    names = set().union(*(placeholders(f) for lang in LANGUAGES for f in forms(key, lang)))
    return {name: f"<{name}>" for name in names} | {plural_param(key): count}


def test_cldr_categories_by_hand() -> None:
    """Babel's CLDR rules, against what a grammar book says for 0, 1, 2, 5, 21, 22 (and 11, 12, 111)."""
    expected = {"ru": ["many", "one", "few", "many", "one", "few"], "en": ["other", "one"] + ["other"] * 4,
                "kk": ["other", "one"] + ["other"] * 4}
    for lang, categories in expected.items():
        assert [plural_category(n, lang) for n in COUNTS] == categories, lang
    assert [plural_category(n, "ru") for n in (11, 12, 111, 101)] == ["many", "many", "many", "one"]


def test_there_are_count_messages() -> None:
    assert len(PLURAL_KEYS) >= 18, PLURAL_KEYS


@pytest.mark.parametrize("key", PLURAL_KEYS)
def test_every_count_message_renders_the_cldr_form(key: str) -> None:
    for lang in LANGUAGES:
        text = messages()[key][lang]
        if isinstance(text, dict):
            assert NEEDED[lang] <= set(text), f"{key} ({lang}) lacks forms {NEEDED[lang] - set(text)}"
        for count in COUNTS:
            rendered = t(key, lang, **params_for(key, count))
            assert str(count) in rendered and "{" not in rendered, (key, lang, count, rendered)
            if isinstance(text, dict):
                category = plural_category(count, lang)
                assert rendered == text[category].format(**params_for(key, count)), (key, lang, count)


@pytest.mark.parametrize(("lang", "count", "expected"), [
    ("ru", 0, "Проверяем 0 файлов…"), ("ru", 1, "Проверяем 1 файл…"), ("ru", 2, "Проверяем 2 файла…"),
    ("ru", 5, "Проверяем 5 файлов…"), ("ru", 21, "Проверяем 21 файл…"), ("ru", 22, "Проверяем 22 файла…"),
    ("ru", 11, "Проверяем 11 файлов…"), ("ru", 112, "Проверяем 112 файлов…"),
    ("en", 1, "Checking 1 file…"), ("en", 21, "Checking 21 files…"), ("en", 0, "Checking 0 files…"),
    ("kk", 1, "Тексерілетін файлдар: 1…"), ("kk", 22, "Тексерілетін файлдар: 22…"),
])
def test_checking_files_by_hand(lang: str, count: int, expected: str) -> None:
    assert t("upload.checking", lang, count=count) == expected


def test_hand_written_forms() -> None:
    # "из 21 файла", never "из 21 файлов"; "из 2 файлов" (genitive plural after 2-4).
    assert t("upload.some_rejected", "ru", total=21, rejected=3).startswith("Из 21 файла будет отклонено: 3.")
    assert t("upload.some_rejected", "ru", total=2, rejected=1).startswith("Из 2 файлов будет")
    assert t("upload.some_rejected", "en", total=1, rejected=1).startswith("1 of 1 file will be rejected")
    assert t("briefing.chart.trend", "ru", count=4) == "Динамика за последние 4 квартала (нарастающим итогом)"
    assert t("briefing.chart.trend", "ru", count=5) == "Динамика за последние 5 кварталов (нарастающим итогом)"
    assert t("briefing.summary_title", "en", count=1).startswith("Summary: 1 KPI against")
    assert t("cli.sample_written", "en", count=1, path="x") == "1 sample file written to x"
    assert t("cli.ingest_rejected", "ru", file="a.xlsx", count=3) == (
        "ОТКЛОНЁН  a.xlsx: 3 ошибки; в базе ничего не изменилось")
    assert t("submissions.caption", "ru", days=21).startswith("Отчёт представляется в течение 21 календарного дня")
    assert t("compliance.rule.deadline", "ru", elapsed=25, days=10, rule="r").startswith(
        "Срок нарушен: прошло 25 дней")
    assert t("ingest.evidence_text_too_long", "ru", length=1001, limit=1000) == (
        "Текст слишком длинный (1001 символ, предел 1000).")


def test_callers_without_count_still_work() -> None:
    assert t("app.yes", "ru") == "Да"
    assert t("no.such.key", "ru") == "no.such.key"
    assert t("upload.checking") == t("upload.checking", "kk")
    # A count message asked for without its number falls back to the general form, never fails.
    assert t("upload.checking", "ru") == "Проверяем {count} файла…"
    assert t("upload.checking", "de", count=1) == "Тексерілетін файлдар: 1…"
    assert plural_category("1\u202f001", "ru") == "one" and plural_category("n/a", "ru") == "other"
    assert plural_category(1.5, "ru") == "other" and plural_category(1.5, "en") == "other"


def test_no_count_is_left_to_a_hard_coded_noun_form() -> None:
    """A placeholder before a countable noun needs plural forms in ru and en (catches '1 файлов', 'file(s)')."""
    bad = []
    for key, entry in messages().items():
        for lang in ("ru", "en"):
            text = entry[lang]
            if isinstance(text, dict):
                continue
            counted = [m for m in COUNTABLE.finditer(text) if m.group(1) not in NOT_COUNTS]
            if "(s)" in text or counted:
                bad.append(f"{key} ({lang}): {text}")
    assert not bad, "\n".join(bad)


def test_no_case_suffix_glued_to_a_placeholder_in_kazakh() -> None:
    bad = [f"{key}: {form}" for key in messages() for form in forms(key, "kk") if GLUED.search(form)]
    assert not bad, "\n".join(bad)


def test_lock_out_time_is_shown_in_astana_time_with_the_zone_named() -> None:
    """The lock-out time was shown as UTC without saying so in Kazakh: five hours off for the reader."""
    locked_until = dt.datetime(2026, 12, 1, 10, 0)  # the store keeps naive UTC
    assert agency_time(locked_until) == "15:00"
    assert agency_time(locked_until.replace(tzinfo=dt.UTC) + dt.timedelta(hours=14)) == "05:00"
    for lang in LANGUAGES:
        text = t("auth.locked", lang, until=agency_time(locked_until))
        assert "15:00" in text and "UTC+5" in text, text
