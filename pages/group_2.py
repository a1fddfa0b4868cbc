"""Project group 2 (see pages/group.py)."""

from pages.group import render

render("G2")
