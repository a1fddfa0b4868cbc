"""Project group 1 (see pages/group.py)."""

from pages.group import render

render("G1")
