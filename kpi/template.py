"""Return templates: an XLSX per entity and period with one named, validated input cell per measure."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from kpi.catalogue import Catalogue, Entity, Measure, Registry, Task, kpis_for_entity, parse_period, tasks_for_entity
from kpi.layout import (  # noqa: F401  (re-exported for callers of the template module)
    FIRST_DATA_ROW,
    INSTRUCTIONS_SHEET,
    RETURN_SHEET,
    TEMPLATE_VERSION,
    VALUE_COLUMN,
    YES_NO,
)

SHEET_PASSWORD = "parasat"

_TITLE_FONT = Font(name="Arial", size=14, bold=True, color="FFFFFF")
_GROUP_FILL = PatternFill("solid", fgColor="0B3D6B")
_KPI_FILL = PatternFill("solid", fgColor="DCE8F5")
_INPUT_FILL = PatternFill("solid", fgColor="FFF7D6")
_META_FILL = PatternFill("solid", fgColor="EDEDED")
_THIN = Side(style="thin", color="9AA9B8")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="center")


@dataclass(frozen=True)
class TemplateCell:
    """Where a measure's input cell sits in the template."""

    measure: str
    sheet: str
    cell: str


def measure_layout(catalogue: Catalogue, registry: Registry, entity: Entity) -> list[tuple[str, str | None]]:
    """The template's rows below the header: ('group', id), ('kpi', id) and ('measure', code) in order."""
    rows: list[tuple[str, str | None]] = []
    placed: set[str] = set()
    kpis = kpis_for_entity(catalogue, registry, entity)
    for group in catalogue.groups:
        group_kpis = [k for k in kpis if k.group_id == group.id]
        if not group_kpis:
            continue
        rows.append(("group", group.id))
        for kpi in group_kpis:
            rows.append(("kpi", kpi.id))
            for code in kpi.measures:
                if code in placed:
                    rows.append(("shared", code))
                    continue
                placed.add(code)
                rows.append(("measure", code))
    return rows



def build_template(
    catalogue: Catalogue, registry: Registry, entity_code: str, period: str, *, lang: str = "kk"
) -> bytes:
    """The XLSX bytes of a blank return for one entity and period."""
    parse_period(period)
    entity = registry.entity_by_code.get(entity_code)
    if entity is None:
        raise KeyError(entity_code)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = RETURN_SHEET
    _write_instructions(wb.create_sheet(INSTRUCTIONS_SHEET, 0), entity, period,
                        [catalogue.measure_by_code[str(code)] for kind, code in measure_layout(catalogue, registry, entity)
                         if kind == "measure"])
    yes, no = YES_NO.get(lang, YES_NO["kk"])

    ws.sheet_view.showGridLines = False
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 70
    ws.column_dimensions["C"].width = 16
    ws.column_dimensions["D"].width = 60
    ws.merge_cells("A1:D1")
    ws["A1"] = "ҮББ № 4 «Сыбайлас жемқорлықтың алдын алу және оған қарсы іс-қимыл» — тоқсандық есеп / квартальный отчёт"
    ws["A1"].font = _TITLE_FONT
    ws["A1"].fill = _GROUP_FILL
    ws["A1"].alignment = _WRAP
    ws.row_dimensions[1].height = 36

    meta = [
        ("meta_entity", "Ұйым коды / Код организации", entity.code),
        ("meta_entity_type", "Ұйым түрі / Тип организации", entity.type),
        ("meta_period", "Кезең / Период (жыл басынан өсу қорытындысымен / нарастающим итогом)", period),
        ("meta_template_version", "Үлгі нұсқасы / Версия шаблона", TEMPLATE_VERSION),
    ]
    ws["A3"] = "Ұйым / Организация"
    ws["B3"] = f"{entity.name.kk}\n{entity.name.ru}"
    ws["B3"].alignment = _WRAP
    ws.row_dimensions[3].height = 32
    for offset, (name, label, value) in enumerate(meta):
        row = 4 + offset
        ws[f"B{row}"] = label
        cell = ws[f"{VALUE_COLUMN}{row}"]
        cell.value = value
        cell.fill = _META_FILL
        cell.border = _BOX
        cell.font = Font(bold=True)
        _define(wb, name, RETURN_SHEET, f"{VALUE_COLUMN}{row}")
    header_row = FIRST_DATA_ROW - 1
    for col, label in zip("ABCD", ("Код / Code", "Көрсеткіш / Показатель", "Мән / Значение", "Түсініктеме / Пояснение")):
        ws[f"{col}{header_row}"] = label
        ws[f"{col}{header_row}"].font = Font(bold=True)
        ws[f"{col}{header_row}"].border = _BOX

    def count_cells(optional: bool) -> DataValidation:
        return DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0", allow_blank=optional,
                              showErrorMessage=True, errorTitle="Қате / Ошибка",
                              error="Теріс емес бүтін сан енгізіңіз / Введите целое неотрицательное число")

    def flag_cells(optional: bool) -> DataValidation:
        return DataValidation(type="list", formula1=f'"{yes},{no}"', allow_blank=optional, showErrorMessage=True,
                              errorTitle="Қате / Ошибка", error=f"{yes} / {no}")

    # A new measure may stay blank ("not reported"); a measure of the contract may not.
    counts, flags, optional_counts, optional_flags = count_cells(False), flag_cells(False), count_cells(True), \
        flag_cells(True)
    for validation in (counts, flags, optional_counts, optional_flags):
        ws.add_data_validation(validation)

    row = FIRST_DATA_ROW
    for kind, ident in measure_layout(catalogue, registry, entity):
        if kind == "group":
            group = catalogue.group(str(ident))
            ws.merge_cells(f"A{row}:D{row}")
            ws[f"A{row}"] = f"№ {group.number} ЖОБАЛАР ТОБЫ / ГРУППА ПРОЕКТОВ № {group.number}: {group.title.kk} / {group.title.ru}"
            ws[f"A{row}"].font = Font(bold=True, color="FFFFFF")
            ws[f"A{row}"].fill = _GROUP_FILL
            ws[f"A{row}"].alignment = _WRAP
            ws.row_dimensions[row].height = 30
        elif kind == "kpi":
            kpi = catalogue.kpi_by_id[str(ident)]
            ws[f"A{row}"] = kpi.id
            ws.merge_cells(f"B{row}:D{row}")
            ws[f"B{row}"] = f"{kpi.title.kk}\n{kpi.title.ru}"
            for col in "ABCD":
                ws[f"{col}{row}"].fill = _KPI_FILL
            ws[f"A{row}"].font = Font(bold=True)
            ws[f"B{row}"].alignment = _WRAP
            ws.row_dimensions[row].height = 48
        else:
            measure = catalogue.measure_by_code[str(ident)]
            ws[f"A{row}"] = measure.code
            ws[f"A{row}"].font = Font(color="6B7B8C", size=9)
            ws[f"B{row}"] = f"{measure.label.kk}\n{measure.label.ru}"
            ws[f"B{row}"].alignment = _WRAP
            ws.row_dimensions[row].height = 32
            if kind == "shared":
                ws[f"C{row}"] = "↑"
                ws[f"D{row}"] = "Жоғарыда енгізілген / Указано выше"
            else:
                cell = ws[f"{VALUE_COLUMN}{row}"]
                cell.fill = _INPUT_FILL
                cell.border = _BOX
                cell.protection = Protection(locked=False)
                if measure.optional:
                    (optional_flags if measure.kind == "flag" else optional_counts).add(cell)
                    ws[f"D{row}"] = "Міндетті емес: бос = берілмеген / Необязательно: пусто = не представлено"
                    ws[f"D{row}"].font = Font(size=9, color="4A5A6A")
                else:
                    (flags if measure.kind == "flag" else counts).add(cell)
                cell.number_format = "0" if measure.kind == "count" else "@"
                if measure.help:
                    # Help lives in a comment (and on the instructions sheet), keeping the return sheet lean.
                    cell.comment = Comment(f"{measure.help.kk}\n\n{measure.help.ru}", "Parasat", width=360, height=160)
                    ws[f"D{row}"] = ws[f"D{row}"].value or "ⓘ"
                    ws[f"D{row}"].font = Font(size=9, color="4A5A6A")
                _define(wb, measure.code, RETURN_SHEET, f"{VALUE_COLUMN}{row}")
        row += 1
    _write_evidence_sheet(wb, catalogue, registry, entity, lang)
    ws.freeze_panes = f"A{FIRST_DATA_ROW}"
    ws.protection.sheet = True
    ws.protection.password = SHEET_PASSWORD
    ws.protection.formatCells = False
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    wb.active = 1
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _write_evidence_sheet(wb: Workbook, catalogue: Catalogue, registry: Registry, entity: Entity, lang: str) -> None:
    """The task sheet (status, related date, audit years, events per month) and the documents sheet (one row
    per document, pre-filled with each task's required document types, with spare rows below)."""
    from kpi.evidence import (
        COLUMNS,
        DOC_TYPES,
        EVENT_COLUMNS,
        EVIDENCE_SHEET,
        FIRST_ROW,
        HEADER_ROW,
        LISTS_SHEET,
        PARTICIPANT_COLUMNS,
        SIGNATORIES,
        STATUSES,
        choice_label,
    )

    tasks = tasks_for_entity(catalogue, registry, entity)
    lists = wb.create_sheet(LISTS_SHEET)
    for column, (kind, codes) in zip("ABC", (("status", STATUSES), ("doc", DOC_TYPES), ("signatory", SIGNATORIES))):
        for index, code in enumerate(codes, start=1):
            lists[f"{column}{index}"] = choice_label(kind, code, lang)
    for index, task in enumerate(tasks, start=1):
        lists[f"D{index}"] = task.id
    lists.sheet_state = "hidden"
    ws = wb.create_sheet(EVIDENCE_SHEET)
    ws.sheet_view.showGridLines = False
    ws["A1"] = "Міндеттердің орындалуы / Выполнение задач"
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = ("Әр міндет бойынша мәртебені, байланысты күнді, аудит жылдарын, айлар бойынша іс-шаралар мен "
                "қатысушыларды көрсетіңіз; құжаттар «Құжаттар» парағында. / Укажите по каждой задаче статус, "
                "связанную дату, годы аудита, мероприятия и участников по месяцам; документы — на листе «Құжаттар».")
    ws["A2"].alignment = _WRAP
    ws.merge_cells("A2:E2")
    ws.row_dimensions[2].height = 42
    headers = {
        "task": "Міндет / Задача", "title": "Атауы / Наименование", "status": "Мәртебе / Статус",
        "related_date": "Байланысты күн (нұсқаулық бекітілген) / Связанная дата (утверждение инструкции)",
        "audit_years": "Аудит есептері (жылдар) / Аудиторские отчёты (годы)",
    }
    for name, letter in COLUMNS.items():
        ws[f"{letter}{HEADER_ROW}"] = headers[name]
    for month, (events_col, people_col) in enumerate(zip(EVENT_COLUMNS, PARTICIPANT_COLUMNS), start=1):
        ws[f"{events_col}{HEADER_ROW}"] = f"Іс-шара / Мероприятия {month:02}"
        ws[f"{people_col}{HEADER_ROW}"] = f"Қатысушы / Участники {month:02}"
    for column in ws[HEADER_ROW]:
        column.font = Font(bold=True, size=9)
        column.alignment = _WRAP
        column.fill = _KPI_FILL
    ws.row_dimensions[HEADER_ROW].height = 60
    for letter, width in {"A": 12, "B": 60, "C": 16, "D": 16, "E": 14}.items():
        ws.column_dimensions[letter].width = width
    last = FIRST_ROW + len(tasks) - 1
    status = _list_validation(LISTS_SHEET, "A", len(STATUSES))
    ws.add_data_validation(status)
    status.add(f"{COLUMNS['status']}{FIRST_ROW}:{COLUMNS['status']}{last}")
    dates, counts = _date_validation(), DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0",
                                                       allow_blank=True, showErrorMessage=True, error="≥ 0")
    ws.add_data_validation(dates)
    ws.add_data_validation(counts)
    # One range per validation: listing every cell would bloat the sheet every reader has to parse.
    dates.add(f"{COLUMNS['related_date']}{FIRST_ROW}:{COLUMNS['related_date']}{last}")
    counts.add(f"{EVENT_COLUMNS[0]}{FIRST_ROW}:{PARTICIPANT_COLUMNS[-1]}{last}")
    row = FIRST_ROW
    for task in tasks:
        ws[f"A{row}"] = task.id
        ws[f"B{row}"] = f"{task.title.kk}\n{task.title.ru}"
        ws[f"B{row}"].alignment = Alignment(wrap_text=True, vertical="top")
        ws[f"B{row}"].font = Font(size=9)
        ws.row_dimensions[row].height = 48
        for name, letter in COLUMNS.items():
            if name in ("task", "title"):
                continue
            cell = ws[f"{letter}{row}"]
            cell.protection = Protection(locked=False)
            cell.fill = _INPUT_FILL
            cell.border = _BOX
            if name == "related_date":
                cell.number_format = "DD.MM.YYYY"
        row += 1
    for letter in (*EVENT_COLUMNS, *PARTICIPANT_COLUMNS):
        # Styled by column, not cell by cell: the monthly grid stays editable without writing 1,000+ empty cells.
        ws.column_dimensions[letter].protection = Protection(locked=False)
        ws.column_dimensions[letter].fill = _INPUT_FILL
        ws.column_dimensions[letter].width = 9
    ws.freeze_panes = f"C{FIRST_ROW}"
    _protect(ws)
    _write_documents_sheet(wb, catalogue, tasks, lang)


def _write_documents_sheet(wb: Workbook, catalogue: Catalogue, tasks: list[Task], lang: str) -> None:
    """One row per proving document: the task code first, then type, number, date, signatory and link."""
    from kpi.evidence import (
        DOC_TYPES,
        DOCUMENT_COLUMNS,
        DOCUMENTS_SHEET,
        EVIDENCE_SHEET,
        FIRST_ROW,
        HEADER_ROW,
        LISTS_SHEET,
        SIGNATORIES,
        SPARE_DOCUMENT_ROWS,
        choice_label,
    )

    ws = wb.create_sheet(DOCUMENTS_SHEET)
    ws.sheet_view.showGridLines = False
    ws["A1"] = "Міндеттердің орындалуын растайтын құжаттар / Документы, подтверждающие выполнение задач"
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = ("Бір жол — бір құжат. Әдістеме талап ететін құжат түрлері алдын ала жазылған; нөмірін, күнін, "
                "қол қойған тұлғаны және ЖБАЖ сілтемесін толтырыңыз. Қосымша құжаттарды төмендегі бос жолдарға "
                "міндет кодымен енгізіңіз. / Одна строка — один документ. Виды документов, которых требует "
                "методика, уже вписаны; заполните номер, дату, подписанта и ссылку в ИСУП. Дополнительные "
                "документы вносите в пустые строки ниже с кодом задачи.")
    ws["A2"].alignment = _WRAP
    ws.merge_cells("A2:G2")
    ws.row_dimensions[2].height = 56
    headers = {"task": "Міндет / Задача", "doc_type": "Құжат түрі / Вид документа", "doc_number": "Нөмірі / Номер",
               "doc_date": "Күні / Дата", "signatory": "Қол қойған / Подписал",
               "reference": "Сілтеме (ЖБАЖ) / Ссылка (ИСУП)", "hint": "Міндет атауы / Наименование задачи"}
    for name, letter in DOCUMENT_COLUMNS.items():
        cell = ws[f"{letter}{HEADER_ROW}"]
        cell.value = headers[name]
        cell.font = Font(bold=True, size=9)
        cell.alignment = _WRAP
        cell.fill = _KPI_FILL
    ws.row_dimensions[HEADER_ROW].height = 40
    for letter, width in {"A": 12, "B": 24, "C": 14, "D": 12, "E": 26, "F": 36, "G": 60}.items():
        ws.column_dimensions[letter].width = width
    slots = [(task, doc_type) for task in tasks
             for doc_type in (catalogue.task_field(task.id, "doc_types") or ("other",))]
    last = FIRST_ROW + len(slots) + SPARE_DOCUMENT_ROWS - 1
    validations = {"task": _list_validation(LISTS_SHEET, "D", len(tasks)),
                   "doc_type": _list_validation(LISTS_SHEET, "B", len(DOC_TYPES)),
                   "signatory": _list_validation(LISTS_SHEET, "C", len(SIGNATORIES)),
                   "doc_date": _date_validation()}
    for name, rule in validations.items():
        ws.add_data_validation(rule)
        rule.add(f"{DOCUMENT_COLUMNS[name]}{FIRST_ROW}:{DOCUMENT_COLUMNS[name]}{last}")
    row = FIRST_ROW
    for task, doc_type in slots:
        ws[f"A{row}"] = task.id
        ws[f"B{row}"] = choice_label("doc", doc_type, lang)
        for letter in ("A", "B"):  # the officer may change a slot's task or type
            ws[f"{letter}{row}"].protection = Protection(locked=False)
            ws[f"{letter}{row}"].fill = _INPUT_FILL
        # The task's title looked up from the task sheet: a short formula instead of the text in every row, which
        # kept the sheet (and every reader's parse of it) twice as large.
        ws[f"G{row}"] = f"=IFERROR(VLOOKUP(A{row},'{EVIDENCE_SHEET}'!$A:$B,2,FALSE),\"\")"
        ws[f"G{row}"].font = Font(size=9, color="4A5A6A")
        row += 1
    for letter in ("A", "B", "C", "D", "E", "F"):
        ws.column_dimensions[letter].protection = Protection(locked=False)
        ws.column_dimensions[letter].fill = _INPUT_FILL
    ws.column_dimensions["D"].number_format = "DD.MM.YYYY"
    ws.freeze_panes = f"B{FIRST_ROW}"
    _protect(ws)


def _list_validation(sheet: str, column: str, count: int) -> DataValidation:
    return DataValidation(type="list", formula1=f"'{sheet}'!${column}$1:${column}${count}", allow_blank=True,
                          showErrorMessage=True, errorTitle="Қате / Ошибка", error="Тізімнен таңдаңыз / Выберите из списка")


def _date_validation() -> DataValidation:
    return DataValidation(type="date", operator="greaterThan", formula1="36526", allow_blank=True,
                          showErrorMessage=True, error="КК.АА.ЖЖЖЖ / ДД.ММ.ГГГГ")


def _protect(ws) -> None:  # type: ignore[no-untyped-def]
    ws.protection.sheet = True
    ws.protection.password = SHEET_PASSWORD
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


def _define(wb: Workbook, name: str, sheet: str, cell: str) -> None:
    col = "".join(ch for ch in cell if ch.isalpha())
    row = "".join(ch for ch in cell if ch.isdigit())
    wb.defined_names[name] = DefinedName(name, attr_text=f"'{sheet}'!${col}${row}")


def _write_instructions(ws, entity: Entity, period: str, measures: list[Measure]) -> None:  # type: ignore[no-untyped-def]
    year, quarter = parse_period(period)
    lines = [
        ("ҮББ № 4 тоқсандық есебін толтыру нұсқаулығы", True),
        (f"Ұйым: {entity.name.kk} ({entity.code}); кезең: {year} жылғы {quarter}-тоқсан.", False),
        ("1. «Есеп» парағындағы сары ұяшықтарды ғана толтырыңыз; басқа ұяшықтар қорғалған.", False),
        ("2. Сандар — теріс емес бүтін сандар, жыл басынан тоқсан соңына дейін өсу қорытындысымен.", False),
        ("3. Белгілер үшін тізімнен «Иә» немесе «Жоқ» таңдаңыз (1/0 да қабылданады).", False),
        ("4. Бос ұяшық — қате, нөл емес: көрсеткіш болмаса 0 енгізіңіз.", False),
        ("5. Бөлік бүтіннен аспауы тиіс (мысалы, жойылған тәуекелдер ≤ анықталған тәуекелдер).", False),
        ("6. Растайтын құжаттар бірінші басшының, аппарат басшысының немесе бірінші басшының орынбасарларының деңгейінен төмен емес қол қойылған болуы тиіс.", False),
        ("7. «Міндетті емес» деп белгіленген көрсеткіштерді бос қалдыруға болады: бос ұяшық — берілмеген, нөл емес.", False),
        ("8. Әр құжат «Құжаттар» парағында бөлек жолға енгізіледі: міндет коды, түрі, нөмірі, күні, қол қойған тұлға, сілтеме.", False),
        ("", False),
        ("Инструкция по заполнению квартального отчёта по ТБН № 4", True),
        (f"Организация: {entity.name.ru} ({entity.code}); период: {quarter} квартал {year} года.", False),
        ("1. Заполняйте только жёлтые ячейки листа «Есеп»; остальные ячейки защищены.", False),
        ("2. Числа — целые неотрицательные, нарастающим итогом с начала года до конца квартала.", False),
        ("3. Для признаков выберите из списка «Да»/«Иә» или «Нет»/«Жоқ» (принимаются также 1/0).", False),
        ("4. Пустая ячейка — ошибка, а не ноль: при отсутствии показателя введите 0.", False),
        ("5. Часть не может превышать целое (например, устранённые риски ≤ выявленных рисков).", False),
        ("6. Подтверждающие документы подписываются не ниже первого руководителя, руководителя аппарата или заместителей первого руководителя.", False),
        ("7. Показатели с пометкой «Необязательно» можно оставить пустыми: пустая ячейка — не представлено, а не ноль.", False),
        ("8. Каждый документ вносится отдельной строкой на листе «Құжаттар»: код задачи, вид, номер, дата, подписант, ссылка.", False),
        ("", False),
        (f"Үлгі нұсқасы / Версия шаблона: {TEMPLATE_VERSION}", False),
    ]
    ws.column_dimensions["A"].width = 120
    for index, (text, bold) in enumerate(lines, start=1):
        ws[f"A{index}"] = text
        ws[f"A{index}"].alignment = Alignment(wrap_text=True)
        if bold:
            ws[f"A{index}"].font = Font(bold=True, size=13)
    row = len(lines) + 2
    ws[f"A{row}"] = "Көрсеткіштер түсініктемесі / Пояснения к показателям"
    ws[f"A{row}"].font = Font(bold=True, size=13)
    for measure in measures:
        if measure.help is None:
            continue
        row += 1
        ws[f"A{row}"] = f"{measure.code} — {measure.label.kk}: {measure.help.kk}\n{measure.label.ru}: {measure.help.ru}"
        ws[f"A{row}"].alignment = Alignment(wrap_text=True, vertical="top")
    ws.protection.sheet = True
    ws.protection.password = SHEET_PASSWORD


def write_template(
    catalogue: Catalogue, registry: Registry, entity_code: str, period: str, out: Path, *, lang: str = "kk"
) -> Path:
    """Write a blank return template to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(build_template(catalogue, registry, entity_code, period, lang=lang))
    return out
