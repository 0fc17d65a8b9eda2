"""Write the page template's fail-safe partials (share/jupyter/voila/templates/aid/aid_*.html).

Run after changing the fail-safe wording or the emergency warning signs; a unit test fails while
the file is out of date. Usage: ``.venv/bin/python scripts/make_page_failsafe.py``.
"""

from aid.serving import template_partials

if __name__ == "__main__":
    for path, text in template_partials().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
