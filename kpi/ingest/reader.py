"""Check a workbook's container before any parser touches it, then read its named cells with calamine.

This module runs inside the sandboxed worker process (see `kpi.ingest.sandbox`); it never imports
DuckDB, pandas or the catalogue, so the worker starts fast and stays small.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
MACRO_CONTENT = (b"macroEnabled", b"vbaProject", b"application/vnd.ms-office.activeX")
# Rows and cells carry their place in an `r` attribute (`<row r="12">`, `<c r='C12'>`). Only a
# reference with two or more column letters or four or more row digits can lie beyond the template's
# bounds; the pattern starts with a literal, so the regex engine skips ahead to the few candidates.
# (XML would also allow spaces around "=", which no spreadsheet program writes: a reader that tries
# to allocate for such a crafted reference is stopped by the sandbox's memory limit instead.)
_FAR_REF = re.compile(rb'r=["\']([A-Z]{0,4}[0-9]{4,8}|[A-Z]{2,4}[0-9]{1,8})["\']')
_REF_SPLIT = re.compile(r"^([A-Z]*)([0-9]+)$")
_DIMENSION = re.compile(rb'dimension\s[^>]*?\bref\s*=\s*["\']([^"\']+)["\']')  # literal first: the engine skips ahead
_REF_PART = re.compile(r"^\$?([A-Z]{1,4})\$?([0-9]{1,8})$")
_ENTITY_DECL = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# Parts a parser reads whatever sheet is asked for; worksheets are checked when they are read.
PACKAGE_PARTS = frozenset({"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                           "xl/sharedStrings.xml", "xl/styles.xml"})
# Parts and links the template never has: a link to another workbook or file, an embedded object, a part
# outside the package's folders. Such a workbook is refused before any parser reads it. A web hyperlink
# (http or https) is allowed: Excel turns an address typed into the reference column into one by itself.
_RELATIONSHIP = re.compile(rb"""<(?:\w+:)?Relationship\b((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.IGNORECASE)
_EXTERNAL_MODE = re.compile(rb"External", re.IGNORECASE)
_REL_ATTRIBUTE = re.compile(rb"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_FOREIGN_REL_TYPE = re.compile(rb"relationships/(?:externalLink|oleObject|package|attachedTemplate|frame)\b",
                               re.IGNORECASE)
_WEB_TARGET = re.compile(rb"^\s*https?://", re.IGNORECASE)
_SHEET_NAME_FORBIDDEN = frozenset('/\\?*[]:') | {chr(c) for c in range(32)}


@dataclass(frozen=True)
class Limits:
    """The bounds a workbook must stay within before it is parsed."""

    max_bytes: int = 5 * 1024 * 1024
    max_entries: int = 64
    max_uncompressed: int = 40 * 1024 * 1024
    max_ratio: int = 120
    max_sheets: int = 12
    max_rows: int = 2000
    max_columns: int = 64
    read_sheets: tuple[str, ...] = ("Есеп", "Дәлелдер", "Құжаттар")
    max_defined_names: int = 400  # the template defines about seventy


@dataclass
class Problem(Exception):
    """Why a file cannot be read: a message key, its parameters and where it sits."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    sheet: str | None = None
    cell: str | None = None


def column_index(letters: str) -> int:
    """1-based index of a column name: A → 1, XFD → 16384."""
    index = 0
    for ch in letters:
        index = index * 26 + (ord(ch) - 64)
    return index


def column_name(index: int) -> str:
    """Column name of a 1-based column index."""
    name = ""
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def check_container(data: bytes, limits: Limits) -> tuple[zipfile.ZipFile, dict[str, bytes]]:
    """The checked zip and its package XML parts, once the container passed every guard (or Problem)."""
    if len(data) > limits.max_bytes:
        raise Problem("file_too_large", {"size": len(data), "limit": limits.max_bytes})
    if data.startswith(OLE_MAGIC):
        raise Problem("ole_file")
    if not data.startswith(ZIP_MAGIC):
        raise Problem("not_spreadsheet")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise Problem("corrupt_zip", {"detail": str(exc)[:120]}) from None
    if len(infos) > limits.max_entries:
        raise Problem("too_many_entries", {"count": len(infos), "limit": limits.max_entries})
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_uncompressed:
        raise Problem("zip_bomb", {"size": declared, "limit": limits.max_uncompressed})
    names = {i.filename for i in infos}
    if any(i.flag_bits & 0x1 for i in infos):
        raise Problem("encrypted")
    if any(n.lower().endswith(("vbaproject.bin", ".bin")) and "vba" in n.lower() for n in names):
        raise Problem("macro")
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise Problem("not_spreadsheet")
    parts: dict[str, bytes] = {}
    for info in infos:
        if info.file_size > 256 * 1024 and info.compress_size and (
            info.file_size / info.compress_size > limits.max_ratio
        ):
            raise Problem("zip_bomb", {"size": info.file_size, "limit": limits.max_uncompressed})
    for info in infos:
        if info.filename in PACKAGE_PARTS:
            parts[info.filename] = _load_part(data, info)
    content_types = parts.get("[Content_Types].xml", b"")
    if any(marker in content_types for marker in MACRO_CONTENT):
        raise Problem("macro")
    _check_foreign_parts(data, infos, parts, limits)
    return archive, parts


def _check_foreign_parts(data: bytes, infos: list[zipfile.ZipInfo], parts: dict[str, bytes], limits: Limits) -> None:
    """No part outside the package's folders, no link to another workbook or file, no hyperlink, a bounded
    number of defined names: a return made from the template has none of these."""
    for info in infos:
        name = info.filename
        if name.startswith("/") or "\\" in name or ".." in name.split("/"):
            raise Problem("bad_part_path", {"part": name[:80]})
        if name.lower().startswith("xl/externallinks/"):
            raise Problem("external_link", {"part": name[:80]})
        if name.endswith(".rels") and _has_foreign_relationship(parts.get(name) or _load_part(data, info)):
            raise Problem("external_link", {"part": name[:80]})
    if b"externalLink" in parts.get("[Content_Types].xml", b""):
        raise Problem("external_link", {"part": "[Content_Types].xml"})
    names = parts["xl/workbook.xml"].count(b"<definedName ")
    if names > limits.max_defined_names:
        raise Problem("too_many_names", {"count": names, "limit": limits.max_defined_names})


def _has_foreign_relationship(rels: bytes) -> bool:
    """Whether a relationships part links to another workbook or file, an object, or anything outside the
    package other than a web page."""
    web_links = 0
    for match in _RELATIONSHIP.finditer(rels):
        attributes = {key.lower(): double if double is not None else single
                      for key, double, single in (m.groups() for m in _REL_ATTRIBUTE.finditer(match.group(1)))}
        rel_type = attributes.get(b"type", b"")
        if _FOREIGN_REL_TYPE.search(rel_type):
            return True
        if attributes.get(b"targetmode", b"").strip().lower() == b"external":
            if not (rel_type.lower().endswith(b"/hyperlink") and _WEB_TARGET.match(attributes.get(b"target", b""))):
                return True
            web_links += 1
    # Whatever the element scan missed (odd markup) still counts: every "External" must be an allowed web link.
    return len(_EXTERNAL_MODE.findall(rels)) > web_links


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the name and extra-field lengths at 26 and 28


def _load_part(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """One part's bytes, inflated straight from the workbook's bytes (a fraction of `ZipFile.open`'s cost
    for the small parts) and checked: its local header, its declared size, its CRC-32, and no XML entity
    declarations."""
    offset = info.header_offset
    if offset + _LOCAL_HEADER.size > len(data):
        raise Problem("corrupt_zip", {"detail": f"{info.filename}: truncated"})
    signature, name_length, extra_length = _LOCAL_HEADER.unpack_from(data, offset)
    start = offset + _LOCAL_HEADER.size + name_length + extra_length
    if signature != ZIP_MAGIC or start + info.compress_size > len(data):
        raise Problem("corrupt_zip", {"detail": f"{info.filename}: truncated"})
    raw = data[start:start + info.compress_size]
    if info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            content = inflater.decompress(raw, info.file_size + 1)
        except zlib.error as exc:
            raise Problem("corrupt_zip", {"detail": f"{info.filename}: {str(exc)[:100]}"}) from None
    elif info.compress_type == zipfile.ZIP_STORED:
        content = raw
    else:
        raise Problem("corrupt_zip", {"detail": f"{info.filename}: compression {info.compress_type}"})
    if len(content) != info.file_size:
        raise Problem("corrupt_zip", {"detail": f"{info.filename}: size mismatch"})
    if zlib.crc32(content) != info.CRC:
        raise Problem("corrupt_zip", {"detail": f"{info.filename}: CRC mismatch"})
    if _ENTITY_DECL.search(content):
        raise Problem("xml_entities", {"part": info.filename})
    return content


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


def _workbook_structure(parts: dict[str, bytes]) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    """Sheets as (name, part path) and workbook-scope defined names as name → reference.

    Returns made from one template carry the same workbook part byte for byte, so the answer is
    remembered by content: a batch parses each distinct structure once.
    """
    sheets, defined = _parse_structure(parts["xl/workbook.xml"],
                                       parts.get("xl/_rels/workbook.xml.rels", b"<Relationships/>"))
    return sheets, dict(defined)


@lru_cache(maxsize=256)
def _parse_structure(workbook_xml: bytes, rels_xml: bytes
                     ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Sheets and defined names of one workbook part and its relationships (see `_workbook_structure`).

    Read with expat's event interface, which builds no tree. `_load_part` has refused any part
    declaring a DTD or entities, so nothing here can expand beyond the XML's predefined entities.
    """
    targets: dict[str, str] = {}

    def relationship(name: str, attrs: dict[str, str]) -> None:
        if name == f"{_PACKAGE_REL_NS} Relationship":
            target = attrs.get("Target", "")
            targets[attrs.get("Id", "")] = target.lstrip("/") if target.startswith("/") else "xl/" + target

    sheet_ids: list[tuple[str, str]] = []
    defined: dict[str, str] = {}
    current: list[str | None] = [None]  # the defined name whose text is being read
    text: list[str] = []

    def workbook_start(name: str, attrs: dict[str, str]) -> None:
        if name == f"{_MAIN_NS} sheet":
            sheet_ids.append((attrs.get("name", ""), attrs.get(f"{_REL_NS} id", "")))
        elif name == f"{_MAIN_NS} definedName":
            current[0] = attrs.get("name", "") if attrs.get("localSheetId") is None else None
            text.clear()

    def workbook_end(name: str) -> None:
        if name == f"{_MAIN_NS} definedName" and current[0] is not None:
            reference = "".join(text).strip()
            if reference:
                defined[current[0]] = reference
            current[0] = None

    def workbook_text(data: str) -> None:
        if current[0] is not None:
            text.append(data)

    _parse_xml(rels_xml, relationship)
    _parse_xml(workbook_xml, workbook_start, workbook_end, workbook_text)
    return tuple((name, targets.get(rel_id, "")) for name, rel_id in sheet_ids), tuple(defined.items())


def _parse_xml(xml: bytes, start: Any, end: Any = None, text: Any = None) -> None:
    """Run expat over one package part with the given handlers; corrupt XML is a Problem."""
    from xml.parsers import expat

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    if text is not None:
        parser.CharacterDataHandler = text
        parser.buffer_text = True
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise Problem("corrupt_xml", {"detail": str(exc)[:120]}) from None


def _check_sheet(archive: zipfile.ZipFile, data: bytes, name: str, part: str, limits: Limits) -> None:
    """A worksheet that will be parsed: no entity declarations, every cell within the template's bounds."""
    try:
        info = archive.getinfo(part)
    except KeyError:
        raise Problem("corrupt_zip", {"detail": f"{part}: missing"}) from None
    xml = _load_part(data, info)
    # Rows may also go without a number and be placed one after another: count them.
    if xml.count(b"<row") > limits.max_rows + 1:
        raise Problem("out_of_bounds", {"limit": f"{column_name(limits.max_columns)}{limits.max_rows}"},
                      sheet=name)
    for match in _DIMENSION.finditer(xml):
        for corner in match.group(1).decode().split(":"):
            corner_match = _REF_PART.match(corner.strip())
            if corner_match:
                _check_ref(corner_match.group(1), int(corner_match.group(2)), name, limits)
    far_row = None
    for candidate in _FAR_REF.finditer(xml):
        if candidate.start() == 0 or not xml[candidate.start() - 1:candidate.start()].isspace():
            continue  # the end of another attribute's name
        ref = _REF_SPLIT.match(candidate.group(1).decode())
        assert ref is not None
        col, row = ref.group(1), int(ref.group(2))
        if col:
            _check_ref(col, row, name, limits)
        elif row > limits.max_rows and far_row is None:
            far_row = row  # a row element: its cells usually name the exact place, so look on
    if far_row is not None:
        _check_ref("A", far_row, name, limits)


def _check_ref(col: str, row: int, sheet: str, limits: Limits) -> None:
    if column_index(col) > limits.max_columns or row > limits.max_rows:
        raise Problem("out_of_bounds", {"limit": f"{column_name(limits.max_columns)}{limits.max_rows}"},
                      sheet=sheet, cell=f"{col}{row}")


def parse_reference(reference: str) -> tuple[str, str] | None:
    """Sheet and cell of a defined name's single-cell reference such as 'Есеп'!$C$14."""
    if "!" not in reference:
        return None
    sheet, cell = reference.rsplit("!", 1)
    sheet = sheet.strip()
    if sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    match = _REF_PART.match(cell.strip())
    if not match:
        return None
    return sheet, f"{match.group(1)}{match.group(2)}"


@lru_cache(maxsize=4096)
def _locate(reference: str) -> tuple[str, str, int, int] | None:
    """Sheet, cell, row and column of a single-cell reference (every return repeats the template's)."""
    located = parse_reference(reference)
    if located is None:
        return None
    sheet, cell = located
    match = _REF_PART.match(cell)
    assert match is not None
    return sheet, cell, int(match.group(2)), column_index(match.group(1))


def jsonable_tables(tables: dict[str, list[list[Any]]]) -> dict[str, list[list[Any]]]:
    """Tables ready to be sent as JSON: rows without their trailing empty cells, values made JSON-safe."""
    return {name: [_trimmed(row) for row in rows] for name, rows in tables.items()}


def _trimmed(row: list[Any]) -> list[Any]:
    """A row without its trailing empty cells, values made JSON-safe."""
    end = len(row)
    while end and row[end - 1] in ("", None):
        end -= 1
    return [_jsonable(v) for v in row[:end]]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def read_workbook(data: bytes, limits: Limits) -> dict[str, Any]:
    """Checked read of one workbook: its sha256, sheet names, every defined name's cell and value (JSON-safe)
    and the tables beside the return sheet as the reader gives them (see `jsonable_tables`)."""
    archive, parts = check_container(data, limits)
    sheets, defined = _workbook_structure(parts)
    if len(sheets) > limits.max_sheets:
        raise Problem("too_many_sheets", {"count": len(sheets), "limit": limits.max_sheets})
    for name, part in sheets:  # Excel allows neither these characters nor a sheet outside xl/worksheets/
        if not 0 < len(name) <= 31 or _SHEET_NAME_FORBIDDEN.intersection(name):
            raise Problem("bad_sheet_name", {"name": name[:40]})
        if not part.startswith("xl/") or ".." in part.split("/"):
            raise Problem("bad_part_path", {"part": part[:80]})
    if any(reference.startswith("[") or "[" in reference.split("!")[0] for reference in defined.values()):
        raise Problem("external_link", {"part": "xl/workbook.xml"})
    readable = {name for name, _part in sheets if name in limits.read_sheets}
    for name, part in sheets:
        if name in readable:
            _check_sheet(archive, data, name, part, limits)
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as exc:  # calamine raises its own error types for unreadable content
        raise Problem("unreadable", {"detail": str(exc)[:160]}) from None
    grids: dict[str, list[list[Any]]] = {}
    cells: dict[str, dict[str, Any]] = {}
    for name, reference in defined.items():
        located = _locate(reference)
        if located is None:
            continue
        sheet, cell, row, col = located
        if sheet not in readable:
            continue
        if sheet not in grids:
            try:
                grids[sheet] = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            except Exception:  # a name pointing at a missing sheet reads as absent
                grids[sheet] = []
        grid = grids[sheet]
        value = grid[row - 1][col - 1] if row <= len(grid) and col <= len(grid[row - 1]) else None
        if value == "":
            value = None
        cells[name] = {"sheet": sheet, "cell": cell, "value": _jsonable(value)}
    tables: dict[str, list[list[Any]]] = {}
    for name in sorted(readable - {limits.read_sheets[0]}):  # the tables beside the return sheet
        tables[name] = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "sheets": [name for name, _ in sheets],
        "cells": cells,
        "tables": tables,
    }


def read_path(path: str, limits: Limits) -> dict[str, Any]:
    """Read one file from disk, refusing it by size before reading it whole."""
    import os

    try:
        size = os.stat(path).st_size
    except OSError as exc:
        return {"ok": False, "problem": {"code": "cannot_open", "params": {"detail": exc.strerror or str(exc)}}}
    if size > limits.max_bytes:
        problem = Problem("file_too_large", {"size": size, "limit": limits.max_bytes})
        return {"ok": False, "problem": _problem_dict(problem)}
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_bytes + 1)
        return {"ok": True, **read_workbook(data, limits)}
    except Problem as problem:
        return {"ok": False, "problem": _problem_dict(problem)}
    except OSError as exc:
        return {"ok": False, "problem": {"code": "cannot_open", "params": {"detail": str(exc)[:120]}}}


def _problem_dict(problem: Problem) -> dict[str, Any]:
    return {"code": problem.code, "params": problem.params, "sheet": problem.sheet, "cell": problem.cell}
