"""The web layer: the only code that imports Flask (API, customer pages, staff pages, errors)."""
