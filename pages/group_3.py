"""Project group 3 (see pages/group.py)."""

from pages.group import render

render("G3")
