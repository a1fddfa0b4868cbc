"""The product's visual identity, shared by the dashboard, exported charts and briefing decks."""

from __future__ import annotations

PRIMARY = "#0B3D6B"  # deep agency blue
ACCENT = "#C8A24A"  # steppe gold
BACKGROUND = "#F4F6F9"
TEXT = "#0D1620"  # as .streamlit/config.toml textColor
MUTED = "#5B6875"  # 5.7:1 on white, 5.3:1 on BACKGROUND (WCAG AA for text)
FONT_FAMILY = "Noto Sans, DejaVu Sans, Arial, sans-serif"

STATUS_COLOURS: dict[str, str] = {
    "met": "#1E8E5A",
    "at_risk": "#E0A526",
    "missed": "#C8372D",
    "monitoring": "#4F7CAC",
    "no_target": "#8C99A6",
    "no_data": "#C9D1D9",
}
GROUP_COLOURS: dict[str, str] = {"G1": "#0B3D6B", "G2": "#1F6FB2", "G3": "#2E9C8F", "G4": "#7A5BA6"}
SERIES: tuple[str, ...] = ("#0B3D6B", "#C8A24A", "#2E9C8F", "#C8372D", "#7A5BA6", "#4F7CAC", "#E07B39",
                           "#5B8C3A", "#A14D7F")
SEQUENTIAL: tuple[str, ...] = ("#E8EEF5", "#9DB8D6", "#4F7CAC", "#1F4F82", "#0B3D6B")
