"""The command line: `python -m kpi entities|template|ingest|report|targets|sample`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kpi.catalogue import ENTITY_TYPES, LANGUAGES, load_catalogue, load_registry, parse_period
from kpi.i18n import format_number, normalise_language, t

DESCRIPTION = """\
Parasat: quarterly returns for Type Basic Direction No. 4, "Prevention and countering of corruption".

Typical flow:
  python -m kpi entities --type akimat --json          # who reports
  python -m kpi template --entity akimat_abai --period 2026Q1 --out abai.xlsx
  (the officer fills the yellow cells in Excel or LibreOffice)
  python -m kpi ingest --db var/my.duckdb abai.xlsx     # accepted whole or rejected whole
  python -m kpi report --db var/my.duckdb --period 2026Q1 --json

--db defaults to the app's embedded database (KPI_DB overrides it); both take a file path or a
postgresql:// URL. A database named with --db or KPI_DB starts empty, the default one is loaded
with the sample returns on first use.
"""


def _lang(args: argparse.Namespace) -> str:
    import os

    return normalise_language(getattr(args, "lang", None) or os.environ.get("PARASAT_LANG"))


def _valid_period(period: str, lang: str) -> bool:
    """Whether a period is of the form YYYYQn; says why not on stderr."""
    try:
        parse_period(period)
    except ValueError:
        print(t("cli.bad_period", lang, period=period), file=sys.stderr)
        return False
    return True


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def cmd_entities(args: argparse.Namespace) -> int:
    registry = load_registry()
    entities = registry.of_type(args.type)
    if args.json:
        _print_json([
            {"code": e.code, "type": e.type, "region": e.region, "name_kk": e.name.kk, "name_ru": e.name.ru,
             "name_en": e.name.en, "extra_kpis": list(e.extra_kpis)}
            for e in entities
        ])
    else:
        lang = _lang(args)
        for e in entities:
            print(f"{e.code:32} {e.type:14} {e.region or '-':18} {e.name(lang)}")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from kpi.template import write_template

    lang = _lang(args)
    registry = load_registry()
    if args.entity not in registry.entity_by_code:
        print(t("cli.unknown_entity", lang, entity=args.entity), file=sys.stderr)
        return 2
    if not _valid_period(args.period, lang):
        return 2
    out = write_template(load_catalogue(), registry, args.entity, args.period, Path(args.out), lang=lang)
    print(t("cli.template_written", lang, path=str(out)))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from kpi.archive import Archive, archive_dir_for
    from kpi.ingest.sandbox import read_and_archive, reader_pool
    from kpi.settings import is_database_url, resolve_db_path

    lang = _lang(args)
    readers = reader_pool()
    # Forked now, before any thread or the database exists, the readers share the loaded catalogue.
    readers.prefork(readers.processes_for(len(args.files)))
    target = resolve_db_path(args.db)[0]
    # A PostgreSQL store archives the files in the transaction of their returns, after reading.
    archive = None if args.dry_run or is_database_url(target) else Archive(archive_dir_for(target))
    # They read, and each valid file is archived, while this process opens the database.
    with ThreadPoolExecutor(max_workers=1) as background:
        reading = background.submit(read_and_archive, readers, args.files, archive, lambda entity: True)
        from kpi.ingest.pipeline import ingest_files
        from kpi.service import open_store

        with open_store(args.db) as store:
            raws, archived = reading.result()
            report = ingest_files(store, load_catalogue(), load_registry(), args.files, uploaded_by=args.user,
                                  dry_run=args.dry_run, raws=raws, archived=archived)
    if args.json:
        _print_json(report.as_dict(lang))
    else:
        for outcome in report.outcomes:
            if outcome.accepted:
                print(t(f"cli.ingest_{outcome.status}", lang, file=outcome.file, entity=outcome.entity,
                        period=outcome.period, version=outcome.version))
            else:
                print(t("cli.ingest_rejected", lang, file=outcome.file, count=len(outcome.issues)))
                for issue in outcome.issues:
                    where = "!".join(x for x in (issue.sheet, issue.cell) if x)
                    extra = f" [{issue.measure}={issue.value!r}]" if issue.measure else ""
                    print(f"  - {issue.file} {where}{extra}: {issue.message(lang)}")
    return 0 if report.ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    from kpi.service import open_store, report_rows

    lang = _lang(args)
    if not _valid_period(args.period, lang):
        return 2
    with open_store(args.db, read_only=False) as store:
        values = report_rows(store, args.period)
    if args.json:
        # the contract's fields, plus the returns behind each figure: entities reporting of those expected
        _print_json([{**v.contract_dict(), "reporting": v.reporting, "expected": v.expected} for v in values])
        return 0
    catalogue = load_catalogue()
    levels = set(args.level or ["national"])
    for v in values:
        if v.level not in levels:
            continue
        kpi = catalogue.kpi_by_id[v.kpi]
        key = v.key or t("level.national", lang)
        print(f"{v.kpi:6} {key:26} {format_number(v.value, lang, unit=v.unit):>12}  "
              f"{t('status.' + v.status, lang):14} {kpi.short(lang)}")
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    from kpi.service import list_targets, open_store, set_target

    lang = _lang(args)
    with open_store(args.db) as store:
        if args.set:
            metric, year, value = args.set
            set_target(store, metric, int(year), float(value), actor=args.user)
            print(t("cli.target_set", lang, metric=metric, year=year, value=value))
        rows = list_targets(store)
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            print(f"{row['metric']:32} {row['year']} {row['value']:>8} {row['source']}")
    return 0


def cmd_compliance(args: argparse.Namespace) -> int:
    from kpi.compliance import compliance
    from kpi.service import open_store

    lang = _lang(args)
    if not _valid_period(args.period, lang):
        return 2
    with open_store(args.db) as store:
        cur = store.cursor()
        results = compliance(cur, load_catalogue(), load_registry(), args.period)
    if args.json:
        _print_json([r.as_dict(lang) for r in results])
        return 0
    for r in results:
        if r.status == "proven" and not args.all:
            continue
        reasons = "; ".join(f.message(lang) for f in r.failed)
        print(f"{r.entity:28} {r.task:11} {t('compliance.status.' + r.status, lang):22} {reasons}")
    return 0


def cmd_flags(args: argparse.Namespace) -> int:
    from kpi.compliance import formalism_flags
    from kpi.service import engine, open_store
    from kpi.settings import get_settings

    lang = _lang(args)
    if not _valid_period(args.period, lang):
        return 2
    with open_store(args.db) as store:
        flags = formalism_flags(store.cursor(), load_catalogue(), load_registry(), engine(), args.period,
                                deadline_days=get_settings().submission_deadline_days)
    if args.json:
        _print_json([f.as_dict(lang) for f in flags])
    else:
        for flag in flags:
            print(f"{flag.entity:28} {flag.code:30} {flag.message(lang)}")
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    import getpass

    from kpi import auth
    from kpi.service import open_store

    with open_store(args.db) as store:
        try:
            if args.action == "add":
                password = args.password or getpass.getpass("Password: ")
                auth.create_user(store, args.username, password, args.role, entities=args.entity or [],
                                 actor="cli")
            elif args.action == "passwd":
                auth.set_password(store, args.username, args.password or getpass.getpass("Password: "), actor="cli")
            elif args.action == "disable":
                auth.update_user(store, args.username, active=False, actor="cli")
            elif args.action == "unlock":
                auth.unlock(store, args.username or "", actor="cli")
                print(t("security.unlocked", _lang(args), username=args.username))
        except auth.AuthError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        users = auth.list_users(store)
    if args.json:
        _print_json(users)
    else:
        for user in users:
            print(f"{user['username']:20} {user['role']:8} {'active' if user['active'] else 'disabled':9} "
                  f"{', '.join(user['entities'])}")  # type: ignore[arg-type]
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from kpi import audit
    from kpi.backup import backup
    from kpi.service import open_store

    with open_store(args.db) as store:
        manifest = backup(store, Path(args.out))
        audit.record(store, "cli", "backup", str(args.out), files=len(manifest["files"]))
    print(t("cli.backup_written", _lang(args), path=args.out, count=len(manifest["files"])))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from kpi import audit
    from kpi.service import open_store

    lang = _lang(args)
    with open_store(args.db) as store:
        if args.action == "list":
            events = audit.read(store, limit=args.limit)
            if args.json:
                _print_json(events)
            else:
                for event in events:
                    print(f"{event['seq']:>7} {event['at']} {event['actor'][:24]:24} {event['action']:18} "
                          f"{(event['subject'] or '')[:60]}")
            return 0
        verdict = audit.verify(store)
    if args.json:
        _print_json({"ok": verdict.ok, "events": verdict.checked, "first_bad": verdict.first_bad,
                     "problem": verdict.problem, "message": verdict.message(lang)})
    else:
        print(verdict.message(lang), file=sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 1


def cmd_restore(args: argparse.Namespace) -> int:
    from kpi.backup import restore
    from kpi.settings import resolve_db_path
    from kpi.store import redacted

    path, _ = resolve_db_path(args.db)
    try:
        secret = None
        if args.secret:
            secret = bytes.fromhex(Path(args.secret).read_text(encoding="ascii").strip())
        manifest = restore(Path(args.backup_dir), path, force=args.force, secret=secret)
    except (ValueError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    shown = redacted(path) if isinstance(path, str) else str(path)
    print(t("cli.restored", _lang(args), path=shown, count=len(manifest["files"])))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from kpi.sample import generate_sample

    written = generate_sample(Path(args.out), seed=args.seed)
    print(t("cli.sample_written", _lang(args), count=written, path=args.out))
    return 0


def cmd_briefing(args: argparse.Namespace) -> int:
    from kpi.briefing import BriefingError, BriefingRequest, PdfUnavailable, pptx_to_pdf, resolve_scope, write_briefing
    from kpi.service import open_store

    lang = _lang(args)
    if not _valid_period(args.period, lang):
        return 2
    try:
        scope = resolve_scope(args.scope, load_registry())
    except BriefingError:
        print(t("briefing.error.unknown_scope", lang, scope=args.scope), file=sys.stderr)
        return 2
    try:
        request = BriefingRequest(period=args.period, scope=scope, lang=lang, kpis=tuple(args.kpi or ()),
                                  national_breakdown=args.breakdown, allow_provisional=args.allow_provisional)
        from kpi.compliance import briefing_provider
        from kpi.service import engine
        from kpi.settings import get_settings

        provider = briefing_provider(load_catalogue(), load_registry(), engine(),
                                     deadline_days=get_settings().submission_deadline_days)
        with open_store(args.db) as store:
            briefing, deck, _ = write_briefing(store, request, Path(args.out), compliance=provider)
    except BriefingError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(t("briefing.cli.written", lang, path=str(deck), slides=len(briefing.slides)))
    if args.pdf:
        try:
            pdf = deck.with_suffix(".pdf")
            pdf.write_bytes(pptx_to_pdf(deck.read_bytes(), lang=lang))
        except PdfUnavailable as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(t("briefing.cli.pdf_written", lang, path=str(pdf)))
    return 0

def cmd_periods(args: argparse.Namespace) -> int:
    from kpi import periods
    from kpi.service import open_store

    lang = _lang(args)
    if args.action != "list" and (not args.period or not _valid_period(args.period, lang)):
        if not args.period:
            print(t("cli.bad_period", lang, period=""), file=sys.stderr)
        return 2
    with open_store(args.db) as store:
        if args.action == "open":
            outcome = periods.open_period(store, args.period, actor=args.user)
            key = {"opened": "opened", "already": "already_open", "not_started": "not_started"}[outcome]
            print(t(f"periods.cli.{key}", lang, period=args.period))
            return 1 if outcome == "not_started" else 0
        if args.action == "close":
            closed = periods.close_period(store, args.period, actor=args.user)
            print(t("periods.cli.closed" if closed else "periods.cli.not_open", lang, period=args.period))
            return 0
        cur = store.cursor()
        try:
            rows = periods.open_period_rows(cur)
        finally:
            cur.close()
    latest = periods.latest_ended()
    if args.json:
        _print_json({"today": periods.today().isoformat(), "latest_ended": latest, "opened": rows})
        return 0
    print(t("periods.cli.latest_ended", lang, period=latest))
    if not rows:
        print(t("periods.cli.none_open", lang))
    for row in rows:
        print(f"{row['period']}  {row['opened_by']}  {row['opened_at']}")
    return 0


DB_HELP = "database file or postgresql:// URL (default: the app's embedded database, or KPI_DB)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m kpi", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--lang", choices=LANGUAGES, help="language of messages: kk (default), ru, en")
        p.set_defaults(func=func)
        return p

    p = add("entities", "List the registered reporting entities.", cmd_entities)
    p.add_argument("--type", choices=ENTITY_TYPES, help="only entities of this type")
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = add("template", "Write a blank return template (XLSX) for one entity and period.", cmd_template)
    p.add_argument("--entity", required=True, help="entity code, see `entities`")
    p.add_argument("--period", required=True, help="period YYYYQn, e.g. 2026Q1 (figures cumulative from January)")
    p.add_argument("--out", required=True, help="path of the XLSX file to write")

    p = add("ingest", "Check and load filled returns; each file is accepted whole or rejected whole.", cmd_ingest)
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("files", nargs="+", help="filled return files (.xlsx)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.add_argument("--user", default="cli", help="who is uploading (kept in the audit trail)")
    p.add_argument("--dry-run", action="store_true", help="check and preview only; write nothing")

    p = add("report", "Compute every KPI at every level for a period.", cmd_report)
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--period", required=True, help="period YYYYQn")
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per KPI × level × key")
    p.add_argument("--level", action="append", choices=["national", "entity_type", "region", "entity"],
                   help="levels to print in the table view (default national)")

    p = add("targets", "List KPI targets by year, or set one (--set METRIC YEAR VALUE).", cmd_targets)
    p.add_argument("--db", help="database file or postgresql:// URL")
    p.add_argument("--set", nargs=3, metavar=("METRIC", "YEAR", "VALUE"), help="e.g. --set G2.K1 2026 70")
    p.add_argument("--user", default="cli", help="who sets the target (kept in the audit trail)")
    p.add_argument("--json", action="store_true")

    p = add("compliance", "Each entity's standing on each task for a period: proven, missing, late, below "
            "cadence or not applicable, with the rules of the guide it failed.", cmd_compliance)
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--period", required=True, help="period YYYYQn")
    p.add_argument("--json", action="store_true", help="one object per entity × task: entity, task, status, failed_rules")
    p.add_argument("--all", action="store_true", help="in the table view, list proven tasks too")

    p = add("flags", "Formalism and data-quality flags for a period (full 100-per-cent shares with no evidence, copied or falling "
            "figures, outliers, late returns, low-level signatures).", cmd_flags)
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--period", required=True, help="period YYYYQn")
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = add("users", "List users, or add one, set a password, or disable one (roles: analyst, officer, admin).",
            cmd_users)
    p.add_argument("action", nargs="?", choices=["list", "add", "passwd", "disable", "unlock"], default="list")
    p.add_argument("username", nargs="?")
    p.add_argument("--db", help="database file or postgresql:// URL")
    p.add_argument("--role", choices=["analyst", "officer", "admin"], default="analyst")
    p.add_argument("--entity", action="append", help="an entity an officer may read and upload for (repeat)")
    p.add_argument("--password", help="the password (asked for when omitted)")
    p.add_argument("--json", action="store_true")

    p = add("periods", "The reporting calendar: list the periods opened early, or let an admin open (or close) a "
            "quarter under way for filing before it ends. A return for a quarter that has not ended is refused "
            "otherwise.", cmd_periods)
    p.add_argument("action", nargs="?", choices=["list", "open", "close"], default="list")
    p.add_argument("period", nargs="?", help="period YYYYQn")
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--user", default="cli", help="who opens or closes it (kept in the audit trail)")
    p.add_argument("--json", action="store_true")

    p = add("backup", "Copy the database (with its audit trail) and the archived uploads, with a signed manifest of "
            "checksums (keep the secret file apart).", cmd_backup)
    p.add_argument("--db", help="database file or postgresql:// URL")
    p.add_argument("--out", required=True, help="an empty or new folder")

    p = add("audit", "Verify the audit trail (exit 1 naming the first bad event) or list its events.", cmd_audit)
    p.add_argument("action", nargs="?", choices=["verify", "list"], default="verify")
    p.add_argument("--db", help="database file or postgresql:// URL")
    p.add_argument("--limit", type=int, default=50, help="list: the newest N events")
    p.add_argument("--json", action="store_true")

    p = add("restore", "Put a backup in place after checking its signature, every path and every checksum.",
            cmd_restore)
    p.add_argument("backup_dir", help="a folder written by `backup`")
    p.add_argument("--db", help="database file or postgresql:// URL to restore into (default: the app's)")
    p.add_argument("--force", action="store_true", help="replace an existing database")
    p.add_argument("--secret", help="the database's secret file (default: the one beside the target database); "
                   "the backup's manifest must be signed with it")

    p = add("sample", "Regenerate the deterministic sample returns.", cmd_sample)
    p.add_argument("--out", default="data/sample", help="folder to write into")
    p.add_argument("--seed", type=int, default=4, help="random seed")

    p = add("briefing", "Write a briefing pack (PowerPoint with native charts; --pdf also a PDF) for a period and "
                        "scope; --lang is the deck's language.", cmd_briefing)
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--period", required=True, help="period YYYYQn")
    p.add_argument("--scope", default="national",
                   help="national, an entity type (akimat...), a region code (abai...) or an entity code")
    p.add_argument("--out", required=True, help="path of the .pptx file to write")
    p.add_argument("--pdf", action="store_true", help="also write FILE.pdf beside it (needs LibreOffice)")
    p.add_argument("--kpi", action="append", metavar="KPI", help="only these KPIs, e.g. --kpi G2.K1 (repeatable)")
    p.add_argument("--breakdown", choices=["region", "entity_type"], default="region",
                   help="how a national pack ranks its children (default: regions)")
    p.add_argument("--allow-provisional", action="store_true",
                   help="build the pack even when fewer returns are in than the coverage threshold "
                        "(PARASAT_COVERAGE_THRESHOLD); the pack then says it is provisional")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from kpi.service import DatabaseBusy
    from kpi.store import StoreUnavailable

    try:
        result: int = args.func(args)
    except DatabaseBusy as busy:  # the app (or another command) holds the database: say so, no traceback
        print(busy.message(_lang(args)), file=sys.stderr)
        return 1
    except StoreUnavailable as problem:  # a database server out of reach, a key file missing
        print(problem.message(_lang(args)), file=sys.stderr)
        return 1
    return result
