"""Command line: ``python -m aid questions|triage|log export ...``.

Exit codes: 0 success, 2 bad input (the message names the field and what is allowed).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from .answers import AnswerError, allowed_text
from .knowledge import load_knowledge
from .report import to_markdown
from .triage import triage


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as exc:
        raise SystemExit(_fail(f"cannot read {path}: {exc.strerror}"))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(_fail(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}"))


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cmd_questions(args: argparse.Namespace) -> int:
    kb = load_knowledge()
    if args.json:
        rows = [
            {
                "id": q.id, "section": q.section, "prompt": q.prompt, "help": q.help,
                "kind": q.kind, "options": list(q.options), "option_labels": list(q.option_labels),
                "minimum": q.minimum, "maximum": q.maximum, "unit": q.unit,
                "enable_when": q.enable_when.text, "required": q.required,
                "allowed": allowed_text(q),
            }
            for q in kb.questions.values()
        ]
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    section = None
    for q in kb.questions.values():
        if q.section != section:
            section = q.section
            print(f"\n## {section}")
        flag = " (required)" if q.required else ""
        shown = f"  [asked when {q.enable_when.text}]" if q.enable_when.atoms else ""
        print(f"- {q.id}{flag}: {q.prompt}\n    {allowed_text(q)}{shown}")
        if q.help:
            print(f"    help: {q.help}")
        for option, label in zip(q.options, q.option_labels):
            if q.kind != "yesno":
                print(f"      {option} = {label}")
    return 0


def cmd_triage(args: argparse.Namespace) -> int:
    raw = _read_json(args.file)
    if not isinstance(raw, dict):
        return _fail("the answers file must hold one JSON object keyed by question id")
    try:
        result = triage(raw)
    except AnswerError as exc:
        return _fail(str(exc))
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(to_markdown(result))
    return 0


def cmd_cohort(args: argparse.Namespace) -> int:
    """Triage a clinic CSV export into a new CSV (aid.cohort; pandas imported only here)."""
    from .cohort import CohortError, triage_csv

    try:
        counts = triage_csv(args.input, args.output, keep=args.keep or ())
    except CohortError as exc:
        return _fail(f"{args.input}: {exc}")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot triage {args.input} into {args.output}: {exc}")
    total = int(counts.sum())
    mix = ", ".join(f"{n} {u}" for u, n in counts.items() if u != "error" and n)
    print(f"wrote {args.output}: {total} rows ({mix or 'none'})", file=sys.stderr)
    if counts["error"]:
        print(f"warning: {counts['error']} could not be triaged: see the 'error' column; "
              "treat them as needing review, not as safe", file=sys.stderr)
    return 0


def cmd_log_export(args: argparse.Namespace) -> int:
    """Write the encounter log as CSV (``-`` = stdout). Imported lazily: pandas only here."""
    import os

    from .store import DEFAULT_PATH, EncounterLog, StoreError, export_frame

    setting = os.environ.get("AID_DB", "").strip()
    if args.db is None and setting.lower() == "off":
        return _fail("the encounter log is disabled (AID_DB=off); set AID_DB or pass --db PATH")
    path = args.db or setting or DEFAULT_PATH
    try:
        frame = export_frame(EncounterLog(path, create=False).to_frame())
    except StoreError as exc:
        return _fail(str(exc))
    if args.out == "-":
        frame.to_csv(sys.stdout, index=False, lineterminator="\n")
        return 0
    try:
        frame.to_csv(args.out, index=False, lineterminator="\n")
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    print(f"wrote {len(frame)} encounters to {args.out}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aid", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("questions", help="list the questions and what each accepts")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_questions)
    p = sub.add_parser("triage", help="triage one person's answers (a JSON object)")
    p.add_argument("file", help="JSON file of answers keyed by question id, or - for stdin")
    p.add_argument("--json", action="store_true", help="print Result.to_dict() as JSON")
    p.set_defaults(func=cmd_triage)
    p = sub.add_parser("cohort", help="triage every row of a clinic CSV export (columns = question ids)")
    p.add_argument("input", metavar="IN.csv", help="one row per person; empty cell = unanswered")
    p.add_argument("output", metavar="OUT.csv", help="the input columns plus urgency, top_cause, "
                   "red_flags, unanswered_red_flags, error")
    p.add_argument("--keep", action="append", metavar="COLUMN",
                   help="carry this extra column through (repeatable); other unknown columns are an error")
    p.set_defaults(func=cmd_cohort)
    p = sub.add_parser("log", help="the encounter log (env AID_DB, default var/encounters.sqlite3)")
    log_sub = p.add_subparsers(dest="log_command", required=True)
    p = log_sub.add_parser("export", help="write every logged encounter as CSV")
    p.add_argument("out", metavar="OUT.csv", help="CSV file to write, or - for stdout")
    p.add_argument("--db", metavar="PATH", help="the log file (default: env AID_DB, else "
                   "var/encounters.sqlite3)")
    p.set_defaults(func=cmd_log_export)
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
