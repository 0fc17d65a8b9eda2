"""Command line: ``python -m aid questions|triage|cohort|log export|fhir ...``.

Exit codes: 0 success, 2 bad input (the message names the field and what is allowed).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .answers import MAX_NUMBER_CHARS, AnswerError, Answers, LongNumber, allowed_text, shown
from .enablement import visible_questions
from .knowledge import load_knowledge
from .report import to_markdown
from .triage import triage

#: An answers file is a few hundred bytes; anything past this is not one (and is not read whole).
MAX_ANSWERS_BYTES = 1 << 20
#: An answers file is an object (level 1) whose multi-choice answers are lists (level 2). Deeper
#: nesting is refused before parsing, so that no input can exhaust the parser's recursion.
MAX_NESTING = 8

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_STRUCTURE = re.compile(r'[\[\]{}":\\]')


class _Refused(ValueError):
    """Raised from inside json.loads hooks: a document we refuse, with the reason in words."""


#: A FHIR QuestionnaireResponse nests deeper than plain answers: resource, section groups,
#: items, answers, codings, extensions. Still bounded, for the same reason.
MAX_FHIR_NESTING = 16


def _read_json(path: str, nesting: int = MAX_NESTING) -> Any:
    """The answers document, or SystemExit(2) with a message naming the file and the fix.

    Every way a file can be wrong (unreadable, too large, not UTF-8, nested too deep, a number
    too long, NaN, a key given twice, not JSON) ends here as exit 2, never as a traceback.
    """
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_ANSWERS_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_ANSWERS_BYTES + 1)
    except OSError as exc:
        raise SystemExit(_fail(f"cannot read {path}: {exc.strerror}")) from None
    if len(data) > MAX_ANSWERS_BYTES:
        raise SystemExit(
            _fail(
                f"{path} is larger than {MAX_ANSWERS_BYTES:,} bytes; an answers file is one small "
                "JSON object keyed by question id"
            )
        )
    text = _decode(path, data)
    deep = _too_deep(text, nesting)
    if deep is not None:
        raise SystemExit(_fail(f"{path}: {deep}"))
    try:
        return json.loads(
            text,
            parse_int=_parse_number(int),
            parse_float=_parse_number(float),
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except _Refused as exc:
        raise SystemExit(_fail(f"{path}: {exc}")) from None
    except json.JSONDecodeError as exc:
        raise SystemExit(
            _fail(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}")
        ) from None
    except (ValueError, RecursionError) as exc:  # a safety net: the checks above come first
        raise SystemExit(_fail(f"{path} cannot be read as JSON ({type(exc).__name__})")) from None


def _decode(path: str, data: bytes) -> str:
    """UTF-8 text (a leading byte-order mark is dropped), or exit 2 saying how to save the file."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if data.startswith(_UTF16_BOMS):
            problem = "is UTF-16 text"
        else:
            problem = f"is not UTF-8 text (byte 0x{data[exc.start]:02X} at position {exc.start})"
        raise SystemExit(_fail(f"{path} {problem}; save the answers as UTF-8 JSON")) from None


def _too_deep(text: str, nesting: int = MAX_NESTING) -> str | None:
    """Why the document nests deeper than MAX_NESTING (naming the answer), or None.

    One pass over the structural characters (brackets, quotes, backslashes, colons), with the
    string state kept by hand: linear in the text whatever it holds, where a regex for JSON
    strings backtracks quadratically on an unterminated one (the fuzz test found a 0.4 MB
    document that took minutes). It stops at the first level too deep, so json.loads never
    recurses deeper than MAX_NESTING.
    """
    depth, key = 0, None
    in_string, escaped, last_string = False, -1, (0, 0)
    for match in _STRUCTURE.finditer(text):
        pos, ch = match.start(), match.group()
        if in_string:
            if pos == escaped:
                continue
            if ch == "\\":
                escaped = pos + 1
            elif ch == '"':
                in_string, last_string = False, (last_string[0], pos + 1)
            continue
        if ch == '"':
            in_string, last_string = True, (pos, pos)
        elif ch in "[{":
            depth += 1
            if depth > nesting:
                where = f"the answer to {shown(key)}" if key is not None else "the document"
                line = text.count("\n", 0, pos) + 1
                allowed = (
                    "one object of answers, each a text, a number or a list of options"
                    if nesting == MAX_NESTING
                    else "a FHIR QuestionnaireResponse to the aid's Questionnaire"
                )
                return (
                    f"{where} is nested more than {nesting} levels deep (line {line}); "
                    f"allowed: {allowed}"
                )
        elif ch in "]}":
            depth -= 1
        elif ch == ":" and depth == 1:
            raw = text[last_string[0] : last_string[1]]
            try:
                key = json.loads(raw)
            except ValueError:
                key = raw
    return None


def _parse_number(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """A json.loads number hook that bounds the work: overlong numbers become LongNumber."""

    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            return LongNumber(sum(ch.isdigit() for ch in text))
        return convert(text)

    return parse


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON value; leave a question out to leave it unanswered")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are unique: a question answered twice is refused, not resolved by
    keeping the last answer (which could quietly replace a "yes" to a warning sign)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"{shown(key)} is answered twice; keep one answer")
        out[key] = value
    return out


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cmd_questions(args: argparse.Namespace) -> int:
    kb = load_knowledge()
    questions = list(kb.questions.values())
    if args.answers is not None:
        # Only the questions asked for these answers so far (aid.enablement: the rule triage,
        # the cohort and the dashboard use), e.g. no pregnancy questions after sex=male.
        raw = _read_json(args.answers)
        if not isinstance(raw, dict):
            return _fail("the answers file must hold one JSON object keyed by question id")
        try:
            given = Answers(raw, kb)
        except AnswerError as exc:
            return _fail(str(exc))
        asked = visible_questions(kb.questions, given)
        questions = [q for q in questions if asked[q.id]]
    if args.json:
        rows = [
            {
                "id": q.id,
                "section": q.section,
                "prompt": q.prompt,
                "help": q.help,
                "kind": q.kind,
                "options": list(q.options),
                "option_labels": list(q.option_labels),
                "minimum": q.minimum,
                "maximum": q.maximum,
                "unit": q.unit,
                "enable_when": q.enable_when.text,
                "required": q.required,
                "allowed": allowed_text(q),
            }
            for q in questions
        ]
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    section = None
    for q in questions:
        if q.section != section:
            section = q.section
            print(f"\n## {section}")
        flag = " (required)" if q.required else ""
        shown = f"  [asked when {q.enable_when.text}]" if q.enable_when.atoms else ""
        print(f"- {q.id}{flag}: {q.prompt}\n    {allowed_text(q)}{shown}")
        if q.help:
            print(f"    help: {q.help}")
        for option, label in zip(q.options, q.option_labels, strict=True):
            if q.kind != "yesno":
                print(f"      {option} = {label}")
    return 0


def cmd_triage(args: argparse.Namespace) -> int:
    output = "json" if args.json else args.output
    if args.fhir or output == "fhir":
        from . import fhir  # fhir.resources is imported only when FHIR is asked for
    if args.fhir:
        document = _read_json(args.file, MAX_FHIR_NESTING)
        if not isinstance(document, dict):
            return _fail("a --fhir file must hold one FHIR QuestionnaireResponse (a JSON object)")
        try:
            answers = fhir.answers_from(document)
        except AnswerError as exc:
            return _fail(f"{args.file}: {exc}")
    else:
        answers = _read_json(args.file)
        if not isinstance(answers, dict):
            return _fail("the answers file must hold one JSON object keyed by question id")
    try:
        result = triage(answers)
    except AnswerError as exc:
        return _fail(str(exc))
    if output == "json":
        json.dump(result.to_dict(), sys.stdout, indent=2)
        print()
    elif output == "fhir":
        response = document if args.fhir else fhir.response(answers)
        sys.stdout.write(fhir.dumps(fhir.result(result, response)))
    else:
        print(to_markdown(result))
    return 0


def cmd_fhir(args: argparse.Namespace) -> int:
    """Publish the form or the aid's code system as FHIR JSON (``-`` = stdout)."""
    from . import fhir

    resource = fhir.questionnaire() if args.what == "questionnaire" else fhir.codesystem()
    return _write_text(args.out, fhir.dumps(resource), f"the {args.what}")


def _write_text(out: str, text: str, what: str) -> int:
    if out == "-":
        sys.stdout.write(text)
        return 0
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        return _fail(f"cannot write {out}: {exc.strerror or exc}")
    print(f"wrote {what} to {out}", file=sys.stderr)
    return 0


def cmd_cohort(args: argparse.Namespace) -> int:
    """Triage a clinic CSV export into a new CSV (aid.cohort; pandas imported only here)."""

    from .cohort import CohortError, triage_csv

    run: Callable[..., Any] = triage_csv
    if args.engine == "dask":  # aid/cohort_dask.py: the same triage, partition by partition
        try:
            from .cohort_dask import triage_csv_dask

            run = triage_csv_dask
        except ImportError as exc:
            return _fail(f"--engine dask needs dask ({exc}): pip install 'back-cramp-aid[dask]'")
    try:
        counts = run(args.input, args.output, keep=args.keep or ())
    except CohortError as exc:
        return _fail(f"{args.input}: {exc}")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot triage {args.input} into {args.output}: {exc}")
    total = int(counts.sum())
    mix = ", ".join(f"{n} {u}" for u, n in counts.items() if u != "error" and n)
    print(f"wrote {args.output}: {total} rows ({mix or 'none'})", file=sys.stderr)
    if counts["error"]:
        print(
            f"warning: {counts['error']} could not be triaged: see the 'error' column; "
            "treat them as needing review, not as safe",
            file=sys.stderr,
        )
    return 0


def cmd_log_export(args: argparse.Namespace) -> int:
    """Write the encounter log as CSV (``-`` = stdout). Imported lazily: pandas only here."""
    import os

    from .store import DEFAULT_PATH, EncounterLog, StoreError, export_frame, is_postgres_url

    setting = os.environ.get("AID_DB", "").strip()
    if args.db is None and setting.lower() == "off":
        return _fail("the encounter log is disabled (AID_DB=off); set AID_DB or pass --db PATH")
    path = args.db or setting or DEFAULT_PATH
    if args.out != "-" and not is_postgres_url(path) and _same_file(args.out, path):
        return _fail(
            f"{args.out} is the encounter log itself (or one of its -wal, -shm or "
            "-journal files); write the export to another file"
        )
    try:
        frame = EncounterLog(path, create=False).to_frame()
    except StoreError as exc:
        return _fail(str(exc))
    if args.fhir:
        from . import fhir

        bundle = fhir.log_bundle(frame)
        return _write_text(args.out, fhir.dumps(bundle), f"{len(frame)} encounters as a Bundle")
    frame = export_frame(frame)
    if args.out == "-":
        frame.to_csv(sys.stdout, index=False, lineterminator="\n")
        return 0
    try:
        frame.to_csv(args.out, index=False, lineterminator="\n")
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    print(f"wrote {len(frame)} encounters to {args.out}", file=sys.stderr)
    return 0


def _same_file(out: str, db: Any) -> bool:
    """Whether writing ``out`` would write into the log ``db`` (or its SQLite side files).

    Export must never overwrite what it reads: ``log export var/encounters.sqlite3`` would
    otherwise replace the log with its own CSV.
    """
    import os

    for candidate in (str(db), *(f"{db}{suffix}" for suffix in ("-wal", "-shm", "-journal"))):
        if os.path.exists(out) and os.path.exists(candidate) and os.path.samefile(out, candidate):
            return True
        if os.path.abspath(out) == os.path.abspath(candidate):
            return True
    return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aid", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("questions", help="list the questions and what each accepts")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--answers",
        metavar="FILE",
        help="list only the questions asked given these answers (JSON object, or - for stdin)",
    )
    p.set_defaults(func=cmd_questions)
    p = sub.add_parser("triage", help="triage one person's answers (a JSON object)")
    p.add_argument("file", help="JSON file of answers keyed by question id, or - for stdin")
    p.add_argument("--json", action="store_true", help="print Result.to_dict() as JSON")
    p.add_argument(
        "--fhir",
        action="store_true",
        help="FILE is a FHIR QuestionnaireResponse to `python -m aid fhir questionnaire`",
    )
    p.add_argument(
        "--output",
        choices=("markdown", "json", "fhir"),
        default="markdown",
        help="markdown (default), json (= --json) or fhir: a Bundle of the "
        "QuestionnaireResponse and a RiskAssessment",
    )
    p.set_defaults(func=cmd_triage)
    p = sub.add_parser(
        "cohort", help="triage every row of a clinic CSV export (columns = question ids)"
    )
    p.add_argument("input", metavar="IN.csv", help="one row per person; empty cell = unanswered")
    p.add_argument(
        "output",
        metavar="OUT.csv",
        help="the input columns plus urgency, service, top_cause, red_flags, "
        "unanswered_red_flags, ignored_answers, error",
    )
    p.add_argument(
        "--keep",
        action="append",
        metavar="COLUMN",
        help="carry this extra column through (repeatable); other unknown columns are an error",
    )
    p.add_argument(
        "--engine",
        choices=("pandas", "dask"),
        default="pandas",
        help="dask: files larger than memory, read and written partition by partition "
        "(needs the [dask] extra)",
    )
    p.set_defaults(func=cmd_cohort)
    p = sub.add_parser(
        "log",
        help="the encounter log (env AID_DB: a SQLite file or a postgresql:// URL; "
        "default var/encounters.sqlite3)",
    )
    log_sub = p.add_subparsers(dest="log_command", required=True)
    p = log_sub.add_parser("export", help="write every logged encounter as CSV (or FHIR)")
    p.add_argument("out", metavar="OUT.csv", help="CSV file to write, or - for stdout")
    p.add_argument(
        "--fhir",
        action="store_true",
        help="write a FHIR Bundle (JSON): per encounter a QuestionnaireResponse and a "
        "RiskAssessment",
    )
    p.add_argument(
        "--db",
        metavar="PATH",
        help="the log: a SQLite file or a postgresql:// URL (default: env AID_DB, else "
        "var/encounters.sqlite3)",
    )
    p.set_defaults(func=cmd_log_export)
    p = sub.add_parser("fhir", help="publish the questionnaire or the aid's codes as FHIR R4B JSON")
    p.add_argument("what", choices=("questionnaire", "codesystem"))
    p.add_argument("out", metavar="OUT", nargs="?", default="-", help="file to write (default -)")
    p.set_defaults(func=cmd_fhir)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `python -m aid questions | head`: the reader left, not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
