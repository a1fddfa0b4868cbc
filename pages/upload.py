"""Upload: officers drop returns, see per file its errors or what will change, confirm; and get blank templates."""

import streamlit as st

from kpi import views
from pages import ui

filters = ui.filters()
lang = filters.lang
ui.sync_url()
ui.page_header(ui.text("upload.title"), ui.text("upload.caption"))
upload_tab, template_tab = st.tabs([ui.text("upload.tab_upload"), ui.text("upload.tab_template")])

with upload_tab:
    ui.localise_uploader()
    ui.show_upload_result()
    files = st.file_uploader(ui.text("upload.drop"), type=["xlsx"], accept_multiple_files=True,
                             key=f"uploader_{st.session_state.get('upload_nonce', 0)}")
    if not files:
        ui.discard_batch()  # files removed from the uploader: their staged copies go too
        ui.empty_state("upload.nothing_yet")
    else:
        batch = ui.preview_batch([(f.name, f.getvalue()) for f in files])
        previews = views.upload_preview(batch.report, ui.catalogue(), ui.registry(), lang)
        for preview in previews:
            ui.file_preview(preview)
        savable = [p for p in previews if p.accepted and p.status != "unchanged"]
        rejected = sum(1 for p in previews if not p.accepted)
        if rejected == len(previews):  # no "the others can be saved" when there are no others
            st.warning(ui.text("analyst.upload.all_rejected", total=rejected))
        elif rejected:
            st.warning(ui.text("upload.some_rejected", rejected=rejected, total=len(previews)))
        if savable and st.button(ui.text("upload.confirm", count=len(savable)), type="primary", key="upload_confirm",
                                 icon=":material/task_alt:"):
            ui.confirm_batch(batch)
            st.rerun()



@st.fragment
def template_form() -> None:
    """The blank-return picker: choosing an entity or a period reruns only this part, not the uploads above."""
    reg = ui.registry()
    entities = views.visible_entities(reg, scope=ui.current_scope(), within=ui.population())
    if not entities:
        ui.empty_state("app.no_entities")
        return
    codes = [e.code for e in sorted(entities, key=lambda e: (e.type, e.name(lang)))]
    code = ui.select(ui.text("upload.template_entity"), codes, "template_entity",
                     format_func=lambda c: views.entity_label(reg, c, lang))
    choices = views.template_periods(ui.periods(), opened=ui.opened_periods())
    period = ui.select(ui.text("upload.template_period"), choices, "template_period",
                       format_func=lambda p: views.period_label(p, lang))
    ui.template_download(code, period)


with template_tab:
    template_form()
