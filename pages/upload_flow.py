"""The upload flow: files staged and checked once per set of files, each file's verdict shown cell by cell, the
checked plan saved behind an explicit confirmation, and blank templates to download."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from kpi import labels
from kpi.store import AccessScope
from kpi.views import FilePreview, upload_preview
from pages.connection import catalogue, data_changed, get_store, registry
from pages.language import lang, plain, text

BATCH_KEY = "_upload_batch"
RESULT_KEY = "_upload_result"
NONCE_KEY = "upload_nonce"
STAGING_PREFIX = "parasat-upload-"


class UploadBatch:
    """Uploaded files staged in a temporary folder with their checked plan (read and validated once per set of
    files): kept in this session's state between the preview and the confirmation, so confirming writes the
    plan without reading or validating the files again."""

    def __init__(self, fingerprint: tuple[str, ...], folder: str, paths: list[str], names: dict[str, str],
                 plan: Any) -> None:
        self.fingerprint = fingerprint
        self.folder = folder
        self.paths = paths
        self.names = names
        self.plan = plan
        # When the browser session ends, its state (and this batch) is dropped: the staged files go with it.
        self.remove = weakref.finalize(self, shutil.rmtree, folder, True)

    @property
    def report(self) -> Any:
        """What saving would do, file by file (the plan's dry-run report)."""
        return self.plan.report


def preview_batch(files: Sequence[tuple[str, bytes]], *, scope: AccessScope) -> UploadBatch:
    """Stage the files and check them without saving; the same files are not read again on a rerun."""
    from kpi.ingest.pipeline import check_files

    fingerprint = tuple(f"{name}:{hashlib.sha256(content).hexdigest()}" for name, content in files)
    held: UploadBatch | None = st.session_state.get(BATCH_KEY)
    if held is not None and held.fingerprint == fingerprint and held.plan is not None:
        return held
    discard_batch()
    folder = tempfile.mkdtemp(prefix=STAGING_PREFIX)
    paths, names = [], {}
    for index, (name, content) in enumerate(files):
        path = Path(folder) / f"{index:03d}.xlsx"
        path.write_bytes(content)
        paths.append(str(path))
        names[str(path)] = name
    with st.spinner(text("upload.checking", count=len(files))):
        plan = check_files(get_store(), catalogue(), registry(), paths, scope=scope, display_names=names)
    batch = UploadBatch(fingerprint, folder, paths, names, plan)
    st.session_state[BATCH_KEY] = batch
    return batch


def confirm_batch(batch: UploadBatch, *, scope: AccessScope) -> None:
    """Save the checked plan for real (each staged file must still have the hash it was checked with) and clear
    the uploader."""
    from kpi.ingest.pipeline import commit_plan

    with st.spinner(text("upload.saving")):
        report = commit_plan(get_store(), batch.plan, uploaded_by=scope.actor, scope=scope)
    data_changed()
    for outcome in report.outcomes:  # the session keeps what the confirmation shows, not the figures saved
        outcome.data = None
    st.session_state[RESULT_KEY] = report
    st.session_state[NONCE_KEY] = st.session_state.get(NONCE_KEY, 0) + 1
    discard_batch()


def discard_batch() -> None:
    """Delete the staged files of the previewed batch (on confirm, discard, sign-out and session end)."""
    held: UploadBatch | None = st.session_state.pop(BATCH_KEY, None)
    if held is not None:
        held.remove()


def sweep_staged_uploads(max_age_hours: float = 12) -> int:
    """Delete staged upload folders a stopped server left behind; returns how many."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{STAGING_PREFIX}*"):
        try:
            if folder.is_dir() and not folder.is_symlink() and time.time() - folder.stat().st_mtime > max_age_hours * 3600:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


def show_upload_result() -> None:
    """The confirmation of the last saved batch, file by file."""
    report = st.session_state.get(RESULT_KEY)
    if report is None:
        return
    language = lang()
    saved = [p for p in upload_preview(report, catalogue(), registry(), language) if p.accepted]
    with st.container(border=True, key="upload_result"):
        st.success(text("upload.saved", count=len(saved)), icon=":material/check_circle:")
        for preview in saved:
            st.markdown(f"- **{plain(preview.file)}** — {preview.entity_name}, "
                        f"{labels.period_label(preview.period or '', language) if preview.period else ''}: "
                        f"{preview.status_text} ({text('upload.version', version=preview.version)})")
        if st.button(text("upload.dismiss"), key="upload_dismiss", type="tertiary"):
            st.session_state.pop(RESULT_KEY, None)
            st.rerun()


ISSUES_AS_TABLE = 30  # up to this many errors show in a table that wraps; more, in a grid that scrolls


def file_preview(preview: FilePreview) -> None:
    """One file's verdict: its errors cell by cell, or what saving it will change."""
    language = lang()
    with st.container(border=True, key=f"preview_{abs(hash(preview.file))}"):
        st.markdown(f"**{plain(preview.file)}** — {preview.status_text}")  # no icon: its name would be read aloud
        if not preview.accepted:
            st.error(text("upload.errors", count=len(preview.issues)))
            if len(preview.issues) <= ISSUES_AS_TABLE:  # a static table wraps each message whole
                st.table(preview.issues.set_index(preview.issues.columns[0]))
            else:
                st.dataframe(preview.issues, hide_index=True, width="stretch", column_config={
                    text("col.message"): st.column_config.TextColumn(width="large"),
                    text("analyst.col.row"): st.column_config.TextColumn(width="medium")})
            return
        where = f"{preview.entity_name} (`{preview.entity}`), {labels.period_label(preview.period or '', language)}"
        if preview.status == "new":
            st.markdown(text("upload.will_create", where=where, version=preview.version))
        elif preview.status == "unchanged":
            st.markdown(text("upload.already_there", where=where, version=preview.version))
        else:
            st.markdown(text("upload.will_replace", where=where, version=preview.version,
                             old=preview.replaces_version, count=len(preview.changes)))
            st.dataframe(preview.changes, hide_index=True, width="stretch")


def localise_uploader() -> None:
    """Replace the file uploader's built-in English words ('Upload', '10MB per file') with the interface's."""
    limit = st.get_option("server.maxUploadSize")
    browse = text("upload.browse").replace('"', "")
    hint = text("upload.limit", mb=limit).replace('"', "")
    st.html(
        "<style>"
        "[data-testid='stFileUploaderDropzone'] button [data-testid='stMarkdownContainer'] p {font-size: 0;}"
        f"[data-testid='stFileUploaderDropzone'] button [data-testid='stMarkdownContainer'] p::after "
        f"{{content: \"{browse}\"; font-size: 0.9rem;}}"
        "[data-testid='stFileUploaderDropzoneInstructions'] span {font-size: 0;}"
        f"[data-testid='stFileUploaderDropzoneInstructions'] span::after {{content: \"{hint}\"; font-size: 0.875rem;}}"
        "</style>"
    )


def template_download(entity_code: str, period: str) -> None:
    """A button that builds the blank return for an entity and period when clicked."""
    from kpi.template import build_template

    language = lang()

    def build() -> bytes:
        return build_template(catalogue(), registry(), entity_code, period, lang=language)

    st.download_button(text("upload.template_download"), data=build, file_name=f"{entity_code}_{period}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key="template_download", on_click="ignore", icon=":material/download:", type="primary")
