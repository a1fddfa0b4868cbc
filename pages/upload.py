"""Upload: officers drop returns, see per file its errors or what will change, confirm; and get blank templates."""

import streamlit as st

from kpi import labels, views
from pages import components, connection, filters, service, session, upload_flow
from pages.language import text

chosen = filters.current()
lang = chosen.lang
filters.sync_url()
components.page_header(text("upload.title"), text("upload.caption"))
upload_tab, template_tab = st.tabs([text("upload.tab_upload"), text("upload.tab_template")])

with upload_tab:
    upload_flow.localise_uploader()
    upload_flow.show_upload_result()
    files = st.file_uploader(text("upload.drop"), type=["xlsx"], accept_multiple_files=True,
                             key=f"uploader_{st.session_state.get(upload_flow.NONCE_KEY, 0)}")
    if not files:
        upload_flow.discard_batch()  # files removed from the uploader: their staged copies go too
        components.empty_state("upload.nothing_yet")
    else:
        batch = upload_flow.preview_batch([(f.name, f.getvalue()) for f in files], scope=session.current_scope())
        previews = views.upload_preview(batch.report, connection.catalogue(), connection.registry(), lang)
        for preview in previews:
            upload_flow.file_preview(preview)
        savable = [p for p in previews if p.accepted and p.status != "unchanged"]
        rejected = sum(1 for p in previews if not p.accepted)
        if rejected == len(previews):  # no "the others can be saved" when there are no others
            st.warning(text("analyst.upload.all_rejected", total=rejected))
        elif rejected:
            st.warning(text("upload.some_rejected", rejected=rejected, total=len(previews)))
        if savable and st.button(text("upload.confirm", count=len(savable)), type="primary", key="upload_confirm",
                                 icon=":material/task_alt:"):
            upload_flow.confirm_batch(batch, scope=session.current_scope())
            st.rerun()


@st.fragment
def template_form(within: frozenset[str] | None) -> None:
    """The blank-return picker: choosing an entity or a period reruns only this part, not the uploads above (the
    sidebar's population comes from the page's run: a fragment's rerun does not pass through the router)."""
    reg = connection.registry()
    entities = views.visible_entities(reg, scope=session.current_scope(), within=within)
    if not entities:
        components.empty_state("app.no_entities")
        return
    codes = [e.code for e in sorted(entities, key=lambda e: (e.type, e.name(lang)))]
    code = filters.select(text("upload.template_entity"), codes, "template_entity",
                          format_func=lambda c: labels.entity_label(reg, c, lang))
    choices = views.template_periods(service.periods(), opened=service.opened_periods())
    period = filters.select(text("upload.template_period"), choices, "template_period",
                            format_func=lambda p: labels.period_label(p, lang))
    upload_flow.template_download(code, period)


with template_tab:
    template_form(filters.population())
