"""Write the page template's fail-safe (share/jupyter/voila/templates/aid/aid_failsafe.html).

Run after changing the fail-safe wording or the emergency warning signs; a unit test fails while
the file is out of date. Usage: ``.venv/bin/python scripts/make_page_failsafe.py``.
"""

from aid.serving import FAILSAFE_PARTIAL, failsafe_partial

if __name__ == "__main__":
    FAILSAFE_PARTIAL.write_text(failsafe_partial(), encoding="utf-8")
    print(f"wrote {FAILSAFE_PARTIAL}")
