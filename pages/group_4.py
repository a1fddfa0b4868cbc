"""Project group 4 (see pages/group.py)."""

from pages.group import render

render("G4")
