"""The catalogue against the guide itself, and the entity registry against the contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from kpi.catalogue import (
    Catalogue,
    Registry,
    Text,
    apply_errata,
    kpis_for_entity,
    load_catalogue,
    load_errata,
    measures_for_entity,
)

GUIDE = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_6800b773e5527388.txt"
CONTRACT_KPIS = [f"G1.K{i}" for i in range(1, 5)] + [f"G2.K{i}" for i in range(1, 9)] + \
    [f"G3.K{i}" for i in range(1, 7)] + ["G4.K1", "G4.K2"]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def guide() -> str:
    if not GUIDE.exists():
        pytest.skip(f"the guide is not beside the checkout ({GUIDE})")
    return normalise(GUIDE.read_text(encoding="utf-8"))


def test_structure_counts(catalogue: Catalogue) -> None:
    assert [g.id for g in catalogue.groups] == ["G1", "G2", "G3", "G4"]
    assert [k.id for k in catalogue.kpis] == CONTRACT_KPIS
    assert len(catalogue.projects) == 21
    assert len(catalogue.tasks) == 68
    per_group = {g.id: sum(len(p.tasks) for k in g.kpis for p in k.projects) for g in catalogue.groups}
    assert per_group == {"G1": 18, "G2": 21, "G3": 17, "G4": 12}
    # The guide numbers G3's projects 1, 2, 3, 4, 5, 7: its numbering is kept.
    assert [p.number for k in catalogue.group("G3").kpis for p in k.projects] == [1, 2, 3, 4, 5, 7]
    assert len({t.id for t in catalogue.tasks}) == 68


def test_every_kazakh_text_is_the_guides_own(catalogue: Catalogue, guide: str) -> None:
    def texts():
        for group in catalogue.groups:
            yield group.id, group.title
            for kpi in group.kpis:
                yield kpi.id, kpi.title
                for project in kpi.projects:
                    yield project.id, project.title
                    for field in ("goal", "executors", "evidence", "format", "audience"):
                        if getattr(project, field):
                            yield f"{project.id}.{field}", getattr(project, field)
                    for task in project.tasks:
                        yield task.id, task.title
                        for field in ("goal", "executors", "evidence", "format", "audience"):
                            if getattr(task, field):
                                yield f"{task.id}.{field}", getattr(task, field)
                        for note in task.notes:
                            yield f"{task.id}.note", note

    # The catalogue people read carries the errata; applied to the guide too, every Kazakh text is found in it.
    corrected = guide
    for erratum in load_errata():
        if erratum["lang"] == "kk":
            corrected = corrected.replace(normalise(erratum["find"]), normalise(erratum["replace"]))
    missing = [ident for ident, text in texts() if normalise(text.kk) not in corrected]
    assert missing == []


def test_errata_correct_what_people_read_and_keep_the_guide(catalogue: Catalogue) -> None:
    kept = load_catalogue(errata=None)
    assert kept.kpi_by_id["G2.K3"].title.kk.startswith("СЫРТҚЫ ЖЕМҚОРЛЫҚ")  # the guide's own typo, kept
    assert catalogue.kpi_by_id["G2.K3"].title.kk.startswith("СЫБАЙЛАС ЖЕМҚОРЛЫҚ")
    assert "ҚЫЛМЫСТЫҚ СЫБАЙЛАС ЖЕМҚОРЛЫҚ" in catalogue.kpi_by_id["G2.K7"].title.kk
    assert "discrediting the civil service" in catalogue.kpi_by_id["G2.K7"].title.en
    assert "ST RK 3049-2017" in catalogue.kpi_by_id["G3.K6"].short.en
    assert "СТ РК 3049-2017" in catalogue.kpi_by_id["G4.K2"].short.ru
    assert "антикоррупционным" in catalogue.kpi_by_id["G3.K3"].short.ru

    def every_kk(cat: Catalogue) -> str:
        from pydantic import BaseModel as Model

        out: list[str] = []

        def walk(node: object) -> None:
            if isinstance(node, Text):
                out.append(node.kk)
            elif isinstance(node, tuple):
                for item in node:
                    walk(item)
            elif isinstance(node, Model):
                for name in type(node).model_fields:
                    walk(getattr(node, name))

        walk(cat)
        return "\n".join(out)

    read, guide_words = every_kk(catalogue), every_kk(kept)
    for typo in ("таулдауды", "барасында", "МӘН- ЖАЙЛАРДЫҢ", "КОМПЛАЕНС- ҚЫЗМЕТТЕРДІҢ", "консультативтік- кеңесші",
                 "іс- қимыл", "СЫРТҚЫ ЖЕМҚОРЛЫҚ"):
        assert typo in guide_words and typo not in read, typo


def test_an_erratum_that_matches_nothing_is_an_error() -> None:
    raw = {"groups": [{"id": "G1", "title": {"kk": "А", "ru": "Б", "en": "C"}}]}
    apply_errata(raw, [{"lang": "kk", "find": "А", "replace": "Ә"}])
    assert raw["groups"][0]["title"]["kk"] == "Ә"
    with pytest.raises(ValueError, match="matches no text"):
        apply_errata(raw, [{"lang": "kk", "find": "таулдауды", "replace": "талдауды"}])


def test_every_text_exists_in_three_languages(catalogue: Catalogue) -> None:
    def walk(node):
        if isinstance(node, Text):
            yield node
        elif isinstance(node, tuple):
            for item in node:
                yield from walk(item)
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                yield from walk(getattr(node, name))

    texts = list(walk(catalogue))
    assert len(texts) > 300
    assert all(t.kk.strip() and t.ru.strip() and t.en.strip() for t in texts)


def test_guide_targets_are_seeded(catalogue: Catalogue) -> None:
    assert catalogue.kpi_by_id["G3.K4"].targets == {2022: 20}
    assert catalogue.kpi_by_id["G3.K5"].targets == {2022: 10}
    assert catalogue.kpi_by_id["G3.K6"].targets == {2022: 10}
    assert catalogue.kpi_by_id["G4.K2"].secondary[0].targets == {2022: 20}
    assert not catalogue.kpi_by_id["G2.K1"].targets


def test_measures_follow_the_contract(catalogue: Catalogue) -> None:
    g2k1 = catalogue.kpi_by_id["G2.K1"]
    assert g2k1.numerator == tuple(f"risks_eliminated_d{i:02}" for i in range(1, 10))
    assert g2k1.denominator == tuple(f"risks_found_d{i:02}" for i in range(1, 10))
    assert [b.key for b in g2k1.breakdown] == [f"d{i:02}" for i in range(1, 10)]
    assert catalogue.kpi_by_id["G2.K8"].denominator == "reporting_entities"
    assert catalogue.kpi_by_id["G2.K6"].numerator == ("former_offenders_dismissed",)
    assert catalogue.kpi_by_id["G2.K6"].denominator == ("former_offenders_found",)
    contract = [m for m in catalogue.measures if not m.optional]
    assert len(contract) == 54  # the contract's measures; every later one is optional (blank = not reported)
    flags = {m.code for m in contract if m.kind == "flag"}
    assert flags == {"anticorruption_standard_adopted", "iso37001_certified", "compliance_service_established"}


def test_kpis_for_entity_collects_the_named_extras_once_per_registry(registry: Registry,
                                                                    catalogue: Catalogue) -> None:
    """A fixed slowness: the KPIs only named entities report were gathered again for every entity (quadratic
    in the registry: 1,840 entities took seconds per national report); now once, kept on the registry."""
    assert registry.named_only_kpis == frozenset({"G3.K3"})
    assert registry.named_only_kpis is registry.named_only_kpis
    counts = {e.code: len(kpis_for_entity(catalogue, registry, e)) for e in registry.entities}
    assert counts["min_education"] == counts["min_finance"] + 1


def test_registry(registry: Registry, catalogue: Catalogue) -> None:
    akimats = registry.of_type("akimat")
    assert len(akimats) == 20
    assert {a.region for a in akimats} == {r.code for r in registry.regions}
    assert {"abai", "jetisu", "ulytau", "astana", "almaty", "shymkent"} <= {r.code for r in registry.regions}
    assert all(e.region is None for e in registry.of_type("central_body"))
    assert len(registry.of_type("university")) >= 10 and len(registry.of_type("quasi_public")) >= 10
    moe = registry.entity_by_code["min_education"]
    assert "G3.K3" in [k.id for k in kpis_for_entity(catalogue, registry, moe)]
    finance = registry.entity_by_code["min_finance"]
    assert "G3.K3" not in [k.id for k in kpis_for_entity(catalogue, registry, finance)]
    akimat = registry.entity_by_code["akimat_abai"]
    assert [k.id for k in kpis_for_entity(catalogue, registry, akimat)][-2:] == ["G3.K1", "G3.K2"]
    univ = next(iter(registry.of_type("university")))
    assert [m.code for m in measures_for_entity(catalogue, registry, univ) if not m.optional] == [
        "students_total", "students_trained", "theses_total", "theses_anticorruption", "iso37001_certified"]
