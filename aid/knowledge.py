"""Load and validate the knowledge tables in ``data/knowledge`` (shipped as ``aid/data``) once.

Every fact the aid states lives in a CSV row with a stable ``id`` and a ``source`` from
``sources.csv``. This module turns those rows into frozen dataclasses and checks every
cross-reference at load time (question, option, cause and source ids; the ``when`` grammar;
duplicate ids; missing or unknown columns). A broken table is a :class:`KnowledgeError` naming the
file, the line and the column, so a bad edit fails the first test run instead of a patient.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType

from .conditions import NUMERIC_OPERATORS, Atom, Condition, ConditionError, parse
from .services import Service, apply_clinic_config, clinic_config_path
from .urgency import RULE_LEVELS, Urgency

#: The data shipped inside the package: the repository's top-level ``data/`` folder, which the
#: wheel carries as ``aid/data`` (pyproject.toml, package-data; in a checkout ``aid/data`` is a
#: link to ``../data``). Read with importlib.resources, so an installed ``aid`` finds its tables
#: wherever it is installed.
PACKAGE_DATA: Traversable = files("aid") / "data"
DEFAULT_DIR: Traversable = PACKAGE_DATA / "knowledge"

QUESTION_KINDS = ("yesno", "choice", "multi", "number", "scale")
YESNO_OPTIONS = ("yes", "no")
CAUSE_GROUPS = ("muscular", "spinal", "nerve", "visceral", "systemic", "gynaecological", "serious")
ADVICE_KINDS = ("selfcare", "treatment", "prevention", "caution", "safetynet", "tests")
SOURCE_KINDS = ("article", "guideline")

COLUMNS: dict[str, tuple[str, ...]] = {
    "sources.csv": ("id", "kind", "title", "publisher", "date", "reference"),
    "questions.csv": (
        "id",
        "section",
        "prompt",
        "help",
        "kind",
        "options",
        "option_labels",
        "unit",
        "enable_when",
        "required",
        "source",
    ),
    "services.csv": ("id", "level", "name", "instruction", "source"),
    "red_flags.csv": (
        "id",
        "group",
        "when",
        "urgency",
        "service",
        "reason",
        "clinician_note",
        "source",
    ),
    "causes.csv": ("id", "name", "lay_name", "group", "summary", "source"),
    "cause_evidence.csv": ("id", "cause", "when", "weight", "explanation", "source"),
    "advice.csv": (
        "id",
        "kind",
        "text",
        "applies_to",
        "when",
        "avoid_when",
        "avoid_reason",
        "source",
    ),
}


class KnowledgeError(ValueError):
    """A knowledge table is malformed. ``file``, ``line`` and ``column`` say exactly where."""

    def __init__(self, file: str, line: int | None, column: str | None, message: str):
        self.file, self.line, self.column = file, line, column
        where = (
            file + (f", line {line}" if line else "") + (f", column {column!r}" if column else "")
        )
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Source:
    id: str
    kind: str
    title: str
    publisher: str
    date: str
    reference: str


@dataclass(frozen=True)
class Question:
    """One question of the questionnaire (FHIR Questionnaire ``item`` in spirit)."""

    id: str
    section: str
    prompt: str
    help: str
    kind: str
    options: tuple[str, ...]
    option_labels: tuple[str, ...]
    minimum: float | None
    maximum: float | None
    unit: str
    enable_when: Condition
    required: bool
    source: tuple[str, ...]

    def label_of(self, value: object) -> str:
        """Plain-words text of an answer value, for explanations and reports."""
        if self.kind in ("number", "scale"):
            number = f"{float(value):g}"  # type: ignore[arg-type]
            return f"{number} {self.unit}".strip()
        if isinstance(value, (tuple, list, frozenset, set)):
            # Questionnaire order, not set order: a set's order changes with the hash seed, and
            # a summary must read the same on every run (the notebooks are compared as text).
            order = {option: i for i, option in enumerate(self.options)}
            chosen = sorted(value, key=lambda v: (order.get(v, len(order)), str(v)))
            return ", ".join(self.label_of(v) for v in chosen)
        labels = dict(zip(self.options, self.option_labels, strict=True))
        return labels.get(str(value), str(value))


@dataclass(frozen=True)
class RedFlag:
    """A rule: when its condition holds, urgency is at least ``urgency`` for ``reason``."""

    id: str
    group: str
    when: Condition
    urgency: Urgency
    service: str  # a services.csv id of the same level: where this rule sends the person
    reason: str
    clinician_note: str
    source: tuple[str, ...]


@dataclass(frozen=True)
class Cause:
    id: str
    name: str
    lay_name: str
    group: str
    summary: str
    source: tuple[str, ...]


@dataclass(frozen=True)
class CauseEvidence:
    id: str
    cause: str
    when: Condition
    weight: float
    explanation: str
    source: tuple[str, ...]


@dataclass(frozen=True)
class Advice:
    id: str
    kind: str
    text: str
    applies_to: tuple[str, ...]  # cause ids, or ("*",) for everyone
    when: Condition
    avoid_when: tuple[Condition, ...]  # any one of them holding withholds the advice
    avoid_reason: str
    source: tuple[str, ...]


@dataclass(frozen=True)
class Knowledge:
    """All tables, validated. Immutable: share it freely between threads and kernels."""

    directory: Traversable
    version: str
    sources: Mapping[str, Source]
    questions: Mapping[str, Question]
    services: Mapping[str, Service]  # in precedence order within a level; clinic names applied
    red_flags: tuple[RedFlag, ...]
    rules_by_id: Mapping[str, RedFlag]
    causes: Mapping[str, Cause]
    cause_evidence: tuple[CauseEvidence, ...]
    advice: tuple[Advice, ...]

    def rule(self, rule_id: str) -> RedFlag:
        """The red-flag row with this id (KeyError if there is none)."""
        return self.rules_by_id[rule_id]

    @property
    def red_flag_questions(self) -> frozenset[str]:
        """Questions whose answer can raise urgency to urgent or emergency."""
        return frozenset(
            a.question
            for rule in self.red_flags
            if rule.urgency >= Urgency.URGENT
            for a in rule.when.atoms
            if not a.holds_when_unanswered
        )

    @property
    def sections(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(q.section for q in self.questions.values()))


# --------------------------------------------------------------------------- loading


_cache: dict[tuple[str, Path | None], Knowledge] = {}
_lock = threading.Lock()


def load_knowledge(directory: str | os.PathLike[str] | None = None) -> Knowledge:
    """Return the validated knowledge base, loading it once per directory (thread-safe).

    The clinic's service file (:func:`aid.services.clinic_config_path`) is laid over
    ``services.csv``; a wrong file raises :class:`aid.services.ClinicConfigError`.
    """
    path: Traversable = Path(directory).resolve() if directory is not None else DEFAULT_DIR
    clinic = clinic_config_path()
    key = (str(Path(path).resolve()) if isinstance(path, Path) else str(path), clinic)
    with _lock:
        if key not in _cache:
            _cache[key] = _load(path, clinic)
        return _cache[key]


def _rows(directory: Traversable, name: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) with every expected column present and nothing extra."""
    file = directory / name
    if not file.is_file():
        raise KnowledgeError(name, None, None, f"file is missing from {directory}")
    # Bytes decoded here, then read with newline="" as the csv module needs (Traversable.open
    # takes no newline argument).
    with io.StringIO(file.read_bytes().decode("utf-8"), newline="") as handle:
        reader = csv.DictReader(handle)
        header = tuple(reader.fieldnames or ())
        expected = COLUMNS[name]
        for column in expected:
            if column not in header:
                raise KnowledgeError(name, 1, column, "required column is missing")
        for column in header:
            if column not in expected:
                raise KnowledgeError(
                    name, 1, column, f"unknown column; expected {', '.join(expected)}"
                )
        seen: set[str] = set()
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise KnowledgeError(name, line, None, "wrong number of fields in this row")
            row = {k: v.strip() for k, v in row.items()}
            if not row["id"]:
                raise KnowledgeError(name, line, "id", "every row needs an id")
            if row["id"] in seen:
                raise KnowledgeError(name, line, "id", f"duplicate id {row['id']!r}")
            seen.add(row["id"])
            yield line, row


def _split(text: str, sep: str = "|") -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(sep) if p.strip())


class _Checker:
    """Cross-reference checks shared by all tables, with the location for error messages."""

    def __init__(self, sources: Mapping[str, Source], questions: Mapping[str, Question]):
        self.sources, self.questions = sources, questions

    def source(self, file: str, line: int, text: str) -> tuple[str, ...]:
        ids = _split(text, ";")
        if not ids:
            raise KnowledgeError(file, line, "source", "every row must cite a source id")
        for sid in ids:
            if sid not in self.sources:
                raise KnowledgeError(
                    file,
                    line,
                    "source",
                    f"unknown source id {sid!r}; known: {', '.join(self.sources)}",
                )
        return ids

    def condition(self, file: str, line: int, column: str, text: str) -> Condition:
        try:
            condition = parse(text)
        except ConditionError as exc:
            raise KnowledgeError(file, line, column, str(exc)) from None
        for atom in condition.atoms:
            self.atom(file, line, column, atom)
        return condition

    def atom(self, file: str, line: int, column: str, atom: Atom) -> None:
        question = self.questions.get(atom.question)
        if question is None:
            raise KnowledgeError(file, line, column, f"unknown question id {atom.question!r}")
        if atom.op in ("exists", "missing"):
            return
        numeric = question.kind in ("number", "scale")
        if atom.op in NUMERIC_OPERATORS:
            if not numeric:
                raise KnowledgeError(
                    file,
                    line,
                    column,
                    f"`{atom}` compares a number but {question.id!r} is a {question.kind} question",
                )
            return
        if numeric:
            raise KnowledgeError(
                file,
                line,
                column,
                f"`{atom}`: use <, <=, >, >= for the number question {question.id!r}",
            )
        for value in atom.values:
            if value not in question.options:
                raise KnowledgeError(
                    file,
                    line,
                    column,
                    f"unknown option {value!r} for question {question.id!r}; "
                    f"allowed: {', '.join(question.options)}",
                )


def _enum(file: str, line: int, column: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise KnowledgeError(file, line, column, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _text(file: str, line: int, column: str, value: str) -> str:
    if not value:
        raise KnowledgeError(file, line, column, "must not be empty")
    return value


def _load(directory: Traversable, clinic: Path | None = None) -> Knowledge:
    sources: dict[str, Source] = {}
    for line, row in _rows(directory, "sources.csv"):
        _enum("sources.csv", line, "kind", row["kind"], SOURCE_KINDS)
        _text("sources.csv", line, "title", row["title"])
        sources[row["id"]] = Source(**row)

    questions: dict[str, Question] = {}
    pending_enable: list[tuple[int, str, str]] = []
    for line, row in _rows(directory, "questions.csv"):
        questions[row["id"]] = _question(line, row, sources)
        pending_enable.append((line, row["id"], row["enable_when"]))
    check = _Checker(sources, questions)
    for line, qid, text in pending_enable:  # after all questions exist: forward references are fine
        cond = check.condition("questions.csv", line, "enable_when", text)
        if qid in cond.questions:
            raise KnowledgeError("questions.csv", line, "enable_when", f"{qid!r} depends on itself")
        questions[qid] = _replace_enable(questions[qid], cond)
    _check_enable_loops(questions, {qid: line for line, qid, _ in pending_enable})

    services: dict[str, Service] = {}
    for line, row in _rows(directory, "services.csv"):
        f = "services.csv"
        services[row["id"]] = Service(
            id=row["id"],
            level=_enum(f, line, "level", row["level"], tuple(u.value for u in Urgency)),
            name=_text(f, line, "name", row["name"]),
            instruction=_text(f, line, "instruction", row["instruction"]),
            source=check.source(f, line, row["source"]),
        )
    if not any(s.level == Urgency.SELFCARE.value for s in services.values()):
        raise KnowledgeError("services.csv", None, "level", "no service for self-care (home)")
    services = apply_clinic_config(services, clinic)

    red_flags = []
    for line, row in _rows(directory, "red_flags.csv"):
        f = "red_flags.csv"
        when = check.condition(f, line, "when", _text(f, line, "when", row["when"]))
        urgency = Urgency(
            _enum(f, line, "urgency", row["urgency"], tuple(u.value for u in RULE_LEVELS))
        )
        service = _enum(f, line, "service", row["service"], tuple(services))
        if services[service].level != urgency.value:
            raise KnowledgeError(
                f,
                line,
                "service",
                f"service {service!r} is for {services[service].level}, not {urgency.value}; "
                f"{urgency.value} services: "
                + ", ".join(s.id for s in services.values() if s.level == urgency.value),
            )
        red_flags.append(
            RedFlag(
                id=row["id"],
                group=_text(f, line, "group", row["group"]),
                when=when,
                urgency=urgency,
                service=service,
                reason=_text(f, line, "reason", row["reason"]),
                clinician_note=row["clinician_note"],
                source=check.source(f, line, row["source"]),
            )
        )

    causes: dict[str, Cause] = {}
    for line, row in _rows(directory, "causes.csv"):
        f = "causes.csv"
        causes[row["id"]] = Cause(
            id=row["id"],
            name=_text(f, line, "name", row["name"]),
            lay_name=_text(f, line, "lay_name", row["lay_name"]),
            group=_enum(f, line, "group", row["group"], CAUSE_GROUPS),
            summary=_text(f, line, "summary", row["summary"]),
            source=check.source(f, line, row["source"]),
        )

    evidence = []
    for line, row in _rows(directory, "cause_evidence.csv"):
        f = "cause_evidence.csv"
        if row["cause"] not in causes:
            raise KnowledgeError(f, line, "cause", f"unknown cause id {row['cause']!r}")
        try:
            weight = float(row["weight"])
        except ValueError:
            raise KnowledgeError(f, line, "weight", f"{row['weight']!r} is not a number") from None
        if not math.isfinite(weight) or abs(weight * 1000 - round(weight * 1000)) > 1e-6:
            raise KnowledgeError(
                f,
                line,
                "weight",
                f"{row['weight']!r}: a weight has at most 3 decimals (scores are added in "
                "thousandths, so that they are exact and ties are real ties)",
            )
        evidence.append(
            CauseEvidence(
                id=row["id"],
                cause=row["cause"],
                when=check.condition(f, line, "when", _text(f, line, "when", row["when"])),
                weight=weight,
                explanation=_text(f, line, "explanation", row["explanation"]),
                source=check.source(f, line, row["source"]),
            )
        )

    advice = []
    for line, row in _rows(directory, "advice.csv"):
        f = "advice.csv"
        applies = _split(row["applies_to"], ";") or ("*",)
        for cause in applies:
            if cause != "*" and cause not in causes:
                raise KnowledgeError(f, line, "applies_to", f"unknown cause id {cause!r}")
        avoid = tuple(
            check.condition(f, line, "avoid_when", part)
            for part in _split(row["avoid_when"], " or ")
        )
        if avoid and not row["avoid_reason"]:
            raise KnowledgeError(
                f, line, "avoid_reason", "say in plain words why the advice is withheld"
            )
        advice.append(
            Advice(
                id=row["id"],
                kind=_enum(f, line, "kind", row["kind"], ADVICE_KINDS),
                text=_text(f, line, "text", row["text"]),
                applies_to=applies,
                when=check.condition(f, line, "when", row["when"]),
                avoid_when=avoid,
                avoid_reason=row["avoid_reason"],
                source=check.source(f, line, row["source"]),
            )
        )

    return Knowledge(
        directory=directory,
        version=_version(directory, clinic),
        sources=MappingProxyType(sources),
        questions=MappingProxyType(questions),
        services=MappingProxyType(services),
        red_flags=tuple(red_flags),
        rules_by_id=MappingProxyType({r.id: r for r in red_flags}),
        causes=MappingProxyType(causes),
        cause_evidence=tuple(evidence),
        advice=tuple(advice),
    )


def _question(line: int, row: dict[str, str], sources: Mapping[str, Source]) -> Question:
    f = "questions.csv"
    kind = _enum(f, line, "kind", row["kind"], QUESTION_KINDS)
    minimum = maximum = None
    options: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    if kind in ("number", "scale"):
        bounds = row["options"].split("..")
        try:
            minimum, maximum = float(bounds[0]), float(bounds[1])
            if len(bounds) != 2 or minimum >= maximum:
                raise ValueError
        except (ValueError, IndexError):
            raise KnowledgeError(
                f,
                line,
                "options",
                f"a {kind} question needs a range like 0..10, got {row['options']!r}",
            ) from None
    elif kind == "yesno":
        options, labels = YESNO_OPTIONS, ("Yes", "No")
        if row["options"] and _split(row["options"]) != YESNO_OPTIONS:
            raise KnowledgeError(f, line, "options", "a yesno question has the options yes|no")
    else:
        options, labels = _split(row["options"]), _split(row["option_labels"])
        if len(options) < 2:
            raise KnowledgeError(f, line, "options", "a choice needs at least two options")
        if len(set(options)) != len(options):
            raise KnowledgeError(f, line, "options", "an option is listed twice")
        for option in options:
            if not option.replace("_", "").isalnum() or option != option.lower():
                raise KnowledgeError(
                    f, line, "options", f"option id {option!r} must be lower_snake_case"
                )
        if len(labels) != len(options):
            raise KnowledgeError(
                f,
                line,
                "option_labels",
                f"{len(labels)} labels for {len(options)} options; give one label per option",
            )
    required = _enum(f, line, "required", row["required"] or "no", YESNO_OPTIONS) == "yes"
    source = _split(row["source"], ";")
    for sid in source:
        if sid not in sources:
            raise KnowledgeError(f, line, "source", f"unknown source id {sid!r}")
    if not source:
        raise KnowledgeError(f, line, "source", "every row must cite a source id")
    return Question(
        id=row["id"],
        section=_text(f, line, "section", row["section"]),
        prompt=_text(f, line, "prompt", row["prompt"]),
        help=row["help"],
        kind=kind,
        options=options,
        option_labels=labels,
        minimum=minimum,
        maximum=maximum,
        unit=row["unit"],
        enable_when=Condition((), ""),
        required=required,
        source=source,
    )


def _check_enable_loops(questions: Mapping[str, Question], lines: Mapping[str, int]) -> None:
    """Refuse a loop of ``enable_when`` dependencies (a -> b -> a), naming the loop.

    Why: in a loop, whether a question is asked would depend on itself; the questionnaire would
    have no defined order and the engine could hide a warning sign for a reason that is not an
    answer. The error points at the first question of the loop in file order.
    """
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(qid: str) -> None:
        state[qid] = 1
        path.append(qid)
        for dep in questions[qid].enable_when.questions:
            if state.get(dep) == 1:
                loop = path[path.index(dep) :]
                first = min(loop, key=lambda q: lines[q])
                at = loop.index(first)
                named = " -> ".join(loop[at:] + loop[:at] + [first])
                raise KnowledgeError(
                    "questions.csv",
                    lines[first],
                    "enable_when",
                    f"enable_when dependencies form a loop: {named}; whether a question is asked "
                    "must not depend on itself",
                )
            if dep not in state:
                visit(dep)
        path.pop()
        state[qid] = 2

    for qid in questions:
        if qid not in state:
            visit(qid)


def _replace_enable(question: Question, condition: Condition) -> Question:
    from dataclasses import replace

    return replace(question, enable_when=condition)


def _version(directory: Traversable, clinic: Path | None = None) -> str:
    """A short hash of every table's bytes (and the clinic's service file, when there is one):
    results name the exact rules and service wording that produced them."""
    digest = hashlib.sha256()
    for name in sorted(COLUMNS):
        digest.update(name.encode())
        digest.update((directory / name).read_bytes().replace(b"\r\n", b"\n"))
    if clinic is not None:
        digest.update(b"clinic")
        digest.update(clinic.read_bytes().replace(b"\r\n", b"\n"))
    return digest.hexdigest()[:12]
