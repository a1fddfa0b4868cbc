"""Accessibility of what Parasat controls: axe-core in Debian's Chromium over every page, in Kazakh.

axe-core comes from the npm registry: `make install-test` installs it into .cache/axe (PARASAT_AXE_JS
points elsewhere). Violations inside markup that Streamlit itself draws are listed in STREAMLIT_OWNED,
each with the reason, and left out; any other violation of impact "serious" or "critical" fails the
test. The same pass checks what axe rates lower or cannot see: headings in order, a text alternative
for every chart, and no Material icon name in what a screen reader reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from kpi.catalogue import load_catalogue, load_registry
from kpi.i18n import t
from kpi.sample import fill_by_names
from kpi.template import build_template
from tests import test_browser as browser
from tests.conftest import zero_values

pytestmark = pytest.mark.browser

# The shared server, browser and database of the browser test (one Streamlit server per module).
prepared, server, browser_page = browser.prepared, browser.server, browser.browser_page

ROOT = Path(__file__).resolve().parent.parent
AXE = Path(os.environ.get("PARASAT_AXE_JS", ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"))
DOCS = ROOT / "docs" / "screenshots"
ICON_NAMES = sorted({name for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
                     for name in re.findall(r":material/(\w+):", path.read_text(encoding="utf-8"))})

# Violations in Streamlit's own markup, left out by (axe rule, CSS selector of the Streamlit element the
# node lies in). None of it is drawn by Parasat's code; each is to be reported to streamlit/streamlit.
STREAMLIT_OWNED: dict[str, tuple[str, ...]] = {
    # st.navigation's sidebar: section headers are <div>s directly inside the <ul>, and the page <li>s
    # sit in those <div>s (axe "list" and "listitem"); 156 nodes over the twelve pages.
    "list": ("[data-testid='stSidebarNav']",),
    "listitem": ("[data-testid='stSidebarNav']",),
    # st.metric(chart_data=...): the Vega-Lite sparkline marks are role="graphics-symbol" without a name.
    "svg-img-alt": ("[data-testid='stMetric']",),
}
# WCAG 1.4.3 exempts text of inactive controls: Streamlit greys out a disabled widget's label.
DISABLED_WIDGET = ("[data-testid='stWidgetLabel']", "input:disabled, [aria-disabled='true']")

RUN_AXE = """async ([owned, disabled]) => {
    const result = await axe.run(document, {resultTypes: ['violations']});
    const out = {kept: [], owned: 0};
    for (const v of result.violations) {
        for (const node of v.nodes) {
            const el = document.querySelector(node.target[node.target.length - 1]);
            const selectors = owned[v.id] || [];
            let streamlit = el !== null && selectors.some(s => el.closest(s) !== null);
            if (!streamlit && v.id === 'color-contrast' && el !== null && el.closest(disabled[0])) {
                const widget = el.closest(disabled[0]).parentElement;
                streamlit = widget !== null && widget.querySelector(disabled[1]) !== null;
            }
            if (streamlit) { out.owned += 1; continue; }
            out.kept.push({rule: v.id, impact: node.impact || v.impact, target: node.target.join(' '),
                           html: node.html.slice(0, 160), why: (node.failureSummary || '').slice(0, 240)});
        }
    }
    return out;
}"""

HEADINGS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] h1, [data-testid="stMain"] h2,'
    + '[data-testid="stMain"] h3, [data-testid="stMain"] h4, [data-testid="stMain"] h5, [data-testid="stMain"] h6'))
    .filter(h => h.offsetParent !== null && h.textContent.trim())
    .map(h => [Number(h.tagName[1]), h.textContent.trim().slice(0, 60)])"""

CHARTS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')).map(plot => {
    const block = plot.closest('[data-testid="stElementContainer"]');
    let next = block, alt = null;
    for (let i = 0; i < 4 && next && !alt; i++) {
        next = next.nextElementSibling;
        alt = next ? next.querySelector('.parasat-chart-alt') : null;
    }
    return alt ? alt.textContent : null;
})"""


def axe_ready() -> None:
    assert AXE.exists(), f"axe-core is not installed at {AXE}: run `make install-test`"


def audit(page: Any, name: str, owned: dict[str, int]) -> list[str]:
    """Every problem a screen-reader or low-vision user would meet on the open page, as lines."""
    problems = []
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(RUN_AXE, [STREAMLIT_OWNED, DISABLED_WIDGET])
    owned[name] = found["owned"]
    problems += [f"{name}: axe {v['rule']} ({v['impact']}) at {v['target']}: {v['html']} — {v['why']}"
                 for v in found["kept"] if v["impact"] in ("serious", "critical")]
    levels = page.evaluate(HEADINGS)
    if not levels or levels[0][0] != 1 or [lvl for lvl, _ in levels].count(1) != 1:
        problems.append(f"{name}: the page must open with its one h1: {levels}")
    for (before, _), (level, title) in zip(levels, levels[1:], strict=False):
        if level > before + 1:
            problems.append(f"{name}: heading h{level} '{title}' follows h{before}")
    for alt in page.evaluate(CHARTS):
        if not alt or not re.match(r"Диаграмма: \S.+\. Мәндер саны: \d+\.", alt):
            problems.append(f"{name}: a chart without its text alternative ({alt!r})")
    spoken = page.locator("body").aria_snapshot()
    problems += [f"{name}: the icon name '{icon}' is read aloud" for icon in ICON_NAMES
                 if re.search(rf"(?<![\w/-]){icon}(?![\w/-])", spoken)]
    return problems


def test_every_page_in_kazakh_passes_axe(browser_page: Any, server: str, prepared: dict[str, Any]) -> None:
    axe_ready()
    page, problems, owned = browser_page, [], {}
    for name in browser.PAGES:
        browser.open_page(page, server, f"{name}?lang=kk&period={prepared['period']}")
        problems += audit(page, name or "overview", owned)
    context = page.context.browser.new_context(viewport={"width": browser.WIDTH, "height": 900}, locale="kk-KZ")
    try:  # a new session sees the sign-in page first
        signin = context.new_page()
        signin.goto(f"{server}/?lang=kk")
        signin.wait_for_selector("input[autocomplete='username']", timeout=60_000)
        signin.wait_for_function(browser.IDLE, timeout=60_000)
        time.sleep(0.8)
        problems += audit(signin, "signin", owned)
    finally:
        context.close()
    browser.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (browser.ARTIFACTS / "a11y_streamlit_owned.json").write_text(json.dumps(owned, indent=1), encoding="utf-8")
    assert not problems, "\n".join(problems)


def test_contrast_of_the_theme_meets_wcag_aa() -> None:
    """Captions are the theme's text colour at 60 % (Streamlit's faded text): #767d85 on white was 4.16:1."""
    import tomllib

    theme = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["theme"]

    def luminance(colour: str) -> float:
        channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    def contrast(a: str, b: str) -> float:
        high, low = sorted((luminance(a), luminance(b)), reverse=True)
        return (high + 0.05) / (low + 0.05)

    def faded(colour: str, background: str, alpha: float = 0.6) -> str:
        c, b = colour.lstrip("#"), background.lstrip("#")
        return "#" + "".join(f"{round(alpha * int(c[i:i + 2], 16) + (1 - alpha) * int(b[i:i + 2], 16)):02x}"
                             for i in (0, 2, 4))

    assert round(contrast(faded("#1B2733", "#FFFFFF"), "#FFFFFF"), 2) == 4.16  # the old theme, as the audit found
    for background in (theme["backgroundColor"], theme["secondaryBackgroundColor"], theme["sidebar"]["backgroundColor"]):
        assert contrast(faded(theme["textColor"], background), background) >= 4.5, background
        assert contrast(theme["linkColor"], background) >= 4.5, background
        assert contrast(faded(theme["codeTextColor"], background), background) >= 4.5, background
    from kpi import style

    for colour in (style.TEXT, style.MUTED):
        assert contrast(colour, "#FFFFFF") >= 4.5 and contrast(colour, style.BACKGROUND) >= 4.5, colour


@pytest.fixture(scope="module")
def bad_return(prepared: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A return with a negative figure and a part larger than its whole, which the upload page refuses."""
    catalogue, registry = load_catalogue(), load_registry()
    values = zero_values(catalogue, registry, browser.ENTITY) | {"subdivisions_total": 10,
                                                                 "subdivisions_analysed": 12,
                                                                 "nla_drafts_examined": -3}
    path = tmp_path_factory.mktemp("a11y") / f"{browser.ENTITY}_{prepared['period']}_errors.xlsx"
    path.write_bytes(fill_by_names(build_template(catalogue, registry, browser.ENTITY, prepared["period"]), values))
    return path


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_screenshots_with_the_corrected_text(browser_page: Any, server: str, prepared: dict[str, Any],
                                             bad_return: Path, lang: str) -> None:
    """The overview, an upload with errors and a task's supporting documents, saved to docs/screenshots/."""
    page, period = browser_page, prepared["period"]
    DOCS.mkdir(parents=True, exist_ok=True)

    browser.open_page(page, server, f"?lang={lang}&period={period}")
    assert page.locator("h1").first.inner_text().strip() == t("overview.title", lang)
    shutil.copy(browser.shoot(page, f"a11y_overview_{lang}"), DOCS / f"overview_{lang}.png")

    browser.open_page(page, server, f"upload?lang={lang}")
    page.set_input_files("[data-testid='stFileUploaderDropzoneInput']", str(bad_return))
    error = page.locator("[data-testid='stAlertContentError']").first
    error.wait_for(timeout=60_000)
    browser.settle(page)
    assert error.inner_text().strip() in {t("upload.errors", lang, count=n) for n in range(1, 100)}
    shutil.copy(browser.shoot(page, f"a11y_upload_errors_{lang}"), DOCS / f"upload_errors_{lang}.png")

    browser.open_page(page, server, f"compliance?lang={lang}&period={period}&type=akimat")
    browser.wait_for_charts(page, 1)
    box = page.evaluate("""() => {
        const plot = document.querySelector('.js-plotly-plot');
        plot.scrollIntoView({block: 'center'});
        const r = plot.querySelector('.scatterlayer .trace .point').getBoundingClientRect();
        return {x: r.left + r.width / 2, y: r.top + r.height / 2};
    }""")
    page.mouse.click(box["x"], box["y"])
    browser.settle(page, pause=1.2)
    page.locator(".st-key-compliance_evidence").wait_for(timeout=30_000)
    text = page.locator("[data-testid='stMain']").inner_text()
    assert t("compliance.title", lang) in text and t("compliance.field.required", lang) in text
    time.sleep(0.5)
    shutil.copy(browser.shoot(page, f"a11y_compliance_evidence_{lang}"), DOCS / f"compliance_evidence_{lang}.png")
