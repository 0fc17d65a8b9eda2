"""Where to go: the services a result can send a person to, and a clinic's own names for them.

The services and their default wording are data (``data/knowledge/services.csv``, policy block
"Where to go" of ``clinical-references.md``, source G16). Every red-flag rule names one service of
its own urgency level, and a result carries the service of its most urgent rules (ties: the
table's order, which puts the more specific service first, e.g. the maternity unit before the
emergency department).

A clinic renames services and adds its phone numbers in one small TOML file, without touching
the rules::

    [services.same_day_gp]
    name = "Riverside Surgery, same-day line"
    phone = "01632 960000"

The file is the path in ``AID_CLINIC_CONFIG``, else ``clinic.toml`` in the current directory
(``make dashboard`` passes the repository's ``clinic.toml``); an installed ``aid`` never looks
beside its own source files. Anything else
in it (an unknown service id, an unknown key, a value that is not text, an empty name) is a
:class:`ClinicConfigError` that names the key and what is allowed, never silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

#: The file a clinic edits, in the current directory; ``AID_CLINIC_CONFIG`` names another
#: (``off`` ignores any file).
DEFAULT_CLINIC_CONFIG = Path("clinic.toml")
CLINIC_CONFIG_ENV = "AID_CLINIC_CONFIG"
#: What a clinic may set for a service.
CLINIC_KEYS = ("name", "phone", "instruction")
#: The longest name, instruction or phone entry a clinic file may give (a card line, not a page).
MAX_TEXT = 200


class ClinicConfigError(ValueError):
    """The clinic's service file is wrong; the message names the file, the key and what is allowed."""


@dataclass(frozen=True)
class Service:
    """A place to get care: its id, the level it serves, what to call it and what to do."""

    id: str
    level: str
    name: str
    instruction: str
    phone: str = ""
    source: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "level": self.level,
            "name": self.name,
            "instruction": self.instruction,
            "phone": self.phone,
        }

    @property
    def text(self) -> str:
        """One line for a card, a summary or a CSV cell."""
        phone = f" Phone: {self.phone}." if self.phone else ""
        return f"{self.name}: {self.instruction}{phone}"


def clinic_config_path() -> Path | None:
    """The clinic file in force: ``AID_CLINIC_CONFIG``, else ``./clinic.toml`` if it exists."""
    named = os.environ.get(CLINIC_CONFIG_ENV, "").strip()
    if named.lower() == "off":
        return None
    if named:
        return Path(named)
    return DEFAULT_CLINIC_CONFIG.resolve() if DEFAULT_CLINIC_CONFIG.is_file() else None


def read_clinic_config(path: Path) -> dict[str, dict[str, str]]:
    """Parse a clinic file into ``{service id: {key: text}}`` (ids are checked by the caller)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClinicConfigError(f"{path}: cannot read the clinic file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ClinicConfigError(f"{path}: not a valid TOML file ({exc})") from None
    extra = [k for k in data if k != "services"]
    if extra:
        raise ClinicConfigError(
            f"{path}: unknown top-level key {extra[0]!r}; the file holds only [services.<id>] tables"
        )
    services = data.get("services", {})
    if not isinstance(services, dict):
        raise ClinicConfigError(f"{path}: 'services' must be tables like [services.same_day_gp]")
    out: dict[str, dict[str, str]] = {}
    for sid, entry in services.items():
        where = f"{path}: [services.{sid}]"
        if not isinstance(entry, dict):
            raise ClinicConfigError(f"{where} must be a table of {', '.join(CLINIC_KEYS)}")
        for key, value in entry.items():
            if key not in CLINIC_KEYS:
                raise ClinicConfigError(
                    f"{where}: unknown key {key!r}; allowed keys: {', '.join(CLINIC_KEYS)}"
                )
            if not isinstance(value, str):
                raise ClinicConfigError(f"{where}: {key} must be text in quotes")
            if key in ("name", "instruction") and not value.strip():
                raise ClinicConfigError(f"{where}: {key} must not be empty")
            if len(value) > MAX_TEXT:
                raise ClinicConfigError(f"{where}: {key} is longer than {MAX_TEXT} characters")
        out[sid] = {k: v.strip() for k, v in entry.items()}
    return out


def apply_clinic_config(services: Mapping[str, Service], path: Path | None) -> dict[str, Service]:
    """The services with a clinic's names, instructions and phone numbers laid over them."""
    out = dict(services)
    if path is None:
        return out
    for sid, entry in read_clinic_config(path).items():
        if sid not in out:
            raise ClinicConfigError(
                f"{path}: [services.{sid}] is not a service; service ids: {', '.join(out)}"
            )
        out[sid] = replace(out[sid], **entry)  # type: ignore[arg-type]  # keys checked above
    return out
