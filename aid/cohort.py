"""Cohort triage: :func:`aid.triage` over a whole clinic export at once, by the same code.

``triage_frame(frame) -> DataFrame`` takes one row per person whose columns are question ids
(the same cell format as the CSV export: multi-choice options joined by ``;`` or given as lists,
``yes``/``no``, numbers, an empty cell = unanswered) and adds, per row, the urgency, where to go,
the top possible cause, the fired red-flag rule ids, the red-flag questions left unanswered and
the answers ignored because their question is not asked. This module holds no validation and no
decision rule of its own; it only brings the rows to the engine without a per-row Python loop:

* each distinct cell value of a column is validated once by :func:`aid.answers.cell_answer`
  (the engine's own validator and messages) and the rows are gathered by code;
* which questions are asked comes from :func:`aid.enablement.visible_by_codes` (the one rule,
  run once per distinct combination of the answers it depends on); answers to questions that
  are not asked are removed and listed in ``ignored_answers``;
* the rules are :func:`aid.decisions.decide`, the very function :func:`aid.triage` calls with
  one person, applied to a block of rows;
* rule ids and question ids are joined into text once per distinct pattern.

``tests/unit/test_cohort.py`` checks with hypothesis that the two paths agree row by row. Rows
are processed in blocks (``BLOCK_ROWS``) so memory stays a small multiple of the input.

Decisions, on the side of safety:

* **Unknown columns are an error** naming them (with the closest question id), never silently
  ignored: a misspelt ``bladder_trouble`` column would otherwise make a red flag unanswered for
  every row. ``subject`` is carried through; other columns only when named in ``keep``.
* **A bad cell fails its row, loudly, and only its row**: unknown option, out-of-range or
  non-numeric number, ``none`` combined with other options. That row gets ``urgency`` =
  ``"error"`` (never a level that could look safe), empty result columns and a message in
  ``error`` naming the question and the allowed values (:func:`aid.answers.allowed_text`). Every
  other row is triaged normally; no row is dropped.
* Whitespace around cells and around ``;``-separated options is trimmed (spreadsheets pad); the
  values themselves are case-sensitive, like :class:`aid.Answers` (``Yes`` is an error, not "yes").
"""

from __future__ import annotations

import csv
import difflib
import math
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any, TextIO

import numpy as np
import pandas as pd

from .answers import AnswerError, cell_answer, shown
from .conditions import MULTI_SEPARATOR
from .decisions import LEVELS, decide, facts_of_codes, plan_of
from .enablement import visible_by_codes
from .knowledge import PACKAGE_DATA, Knowledge, Question, load_knowledge
from .store import _SUBJECT as SUBJECT_PATTERN
from .store import StoreError, check_subject, neutralise_formula
from .urgency import Urgency

#: The synthetic clinic export shipped in the package (``aid/data/samples``; made by
#: scripts/make_sample.py into the repository's ``data/samples``).
SAMPLE_PATH: Traversable = PACKAGE_DATA / "samples" / "clinic_export.csv"
#: An optional row-id column that is carried through untouched.
SUBJECT_COLUMN = "subject"
#: Columns added by :func:`triage_frame`, in this order.
OUTPUT_COLUMNS = (
    "urgency",
    "service",
    "top_cause",
    "red_flags",
    "unanswered_red_flags",
    "ignored_answers",
    "error",
)
#: The ``;``-joined text columns of the output.
_TEXT_COLUMNS = ("red_flags", "unanswered_red_flags", "ignored_answers", "error")
#: The urgency of a row that could not be triaged (it must never read as a safe level).
ERROR = "error"
#: The urgency of a row with a required answer missing and no rule fired (``Result.incomplete``):
#: "not enough information", never a self-care verdict.
INCOMPLETE = "incomplete"
#: Categories of the ``urgency`` column in the order a clinician should review rows: emergencies,
#: then rows that could not be triaged (they may hide an emergency), then the rest by level.
REVIEW_ORDER = (
    Urgency.EMERGENCY.value,
    ERROR,
    Urgency.URGENT.value,
    Urgency.SOON.value,
    INCOMPLETE,
    Urgency.SELFCARE.value,
)
#: Rows evaluated together; bounds the working memory (rules x rows booleans, causes x rows floats).
BLOCK_ROWS = 50_000
#: Between several error messages of one row (the messages themselves contain ``;`` and ``,``).
ERROR_SEPARATOR = " | "
#: The CLI shows a progress bar on stderr from this many rows on.
PROGRESS_MIN_ROWS = 50_000
#: A physical line longer than this is refused before pandas reads anything: a clinic export's
#: row is a few hundred characters, and one 200 MB cell made pandas take 2.9 GB (issue 12).
MAX_LINE_CHARS = 1 << 20
#: Rows named in a shape or subject error before "and N more".
NAMED_ROWS = 5
#: Unknown columns named in an error before "and N more".
NAMED_COLUMNS = 10


class CohortError(ValueError):
    """The frame as a whole cannot be triaged (unknown or clashing columns); nothing was done."""


# --------------------------------------------------------------------------------- public API


def triage_frame(
    frame: pd.DataFrame,
    knowledge: Knowledge | None = None,
    *,
    keep: Iterable[str] = (),
    block_rows: int = BLOCK_ROWS,
    progress: Callable[[int], None] | None = None,
    first_row: int = 1,
) -> pd.DataFrame:
    """Triage every row of a cohort frame, as :func:`aid.triage` would one by one.

    Parameters
    ----------
    frame : one row per person; columns are question ids (any subset, in any order), plus an
        optional ``subject`` column and the columns named in ``keep``. Cells hold text as in the
        CSV export or Python values (numbers, ``True``/``False`` for yes/no); empty or missing
        means unanswered.
    knowledge : the tables to use (default: the packaged knowledge base).
    keep : extra columns to carry through untouched (anything else unknown is an error).
    block_rows : rows evaluated together (memory bound).
    progress : called with the number of rows done after each block.
    first_row : the number the frame's first row has in messages (the CSV path reads in
        chunks and passes each chunk's place in the file).

    Returns
    -------
    A new frame: the input columns unchanged, then ``urgency`` (``emergency``, ``urgent``,
    ``soon``, ``selfcare``, ``incomplete`` (a required answer missing, no rule fired) or
    ``error``), ``service`` (where to go: ``Result.service.id``, empty
    for an error row), ``top_cause`` (cause id or empty), ``red_flags`` (fired rule ids as in
    ``Result.fired_rule_ids``, ``;``-joined), ``unanswered_red_flags`` (question ids as in
    ``Result.unanswered``), ``ignored_answers`` (question ids as in ``Result.ignored``: answered
    but not asked, so not used) and ``error`` (empty when the row was triaged). The result columns are categorical.

    Raises
    ------
    CohortError
        for unknown, duplicated or clashing columns (named in the message), and for a
        ``subject`` that is not a pseudonymous id (the rows are named, the values are not).
    """
    kb = knowledge or load_knowledge()
    _check_columns(frame, kb, tuple(keep))
    _check_subjects(frame, first_row)
    plan = _plan(kb)
    n = len(frame)
    texts = {name: _Texts() for name in _TEXT_COLUMNS}
    urgency = np.empty(n, dtype=np.int8)
    top = np.empty(n, dtype=np.int16)
    service = np.empty(n, dtype=np.int16)
    codes = {name: np.empty(n, dtype=np.int32) for name in texts}
    step = max(1, int(block_rows))
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = _Block(plan, frame.iloc[start:stop])
        block.run()
        urgency[start:stop] = block.urgency_codes
        top[start:stop] = block.top_codes
        service[start:stop] = block.service_codes
        for name, (local_codes, strings) in block.texts.items():
            codes[name][start:stop] = texts[name].add(local_codes, strings)
        if progress is not None:
            progress(stop)
    columns: dict[str, Any] = {
        "urgency": pd.Categorical.from_codes(urgency, categories=list(REVIEW_ORDER)),
        "service": pd.Categorical.from_codes(service, categories=[""] + list(kb.services)),
        "top_cause": pd.Categorical.from_codes(top, categories=[""] + list(kb.causes)),
    }
    for name in _TEXT_COLUMNS:
        columns[name] = texts[name].categorical(codes[name])
    out = frame.copy(deep=False)
    for name in OUTPUT_COLUMNS:
        out[name] = pd.Series(columns[name], index=frame.index)
    return out


def read_export(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """Read a clinic CSV export the way the CLI does: every cell as text, empty = unanswered.

    ``na_filter=False`` on purpose: a cell reading ``NA`` or ``None`` must be reported as an
    unknown answer, not quietly turned into "unanswered".

    The file's shape is checked first (:func:`check_shape`): a row with more or fewer fields
    than the header is a :class:`CohortError` naming the row, never a row whose answers moved
    to other columns. ``usecols`` pins the columns to the header, so pandas never takes the
    first column as the index (which shifted every answer one column left), and drops the one
    empty trailing field that some exporters add to every row. Keyword arguments go to
    ``pandas.read_csv`` (``chunksize`` returns a reader, ``nrows`` also limits the check).
    """
    return _read_checked(path, check_shape(path, limit=kwargs.get("nrows")), **kwargs)


@dataclass(frozen=True)
class Shape:
    """What :func:`check_shape` found: named columns, data rows, whether a trailing field is
    dropped (every row ended with the same empty extra field)."""

    columns: int
    rows: int
    trailing: bool


def check_shape(path: str | os.PathLike[str], limit: int | None = None) -> Shape:
    """Check that every row of a CSV export has one field per column, before pandas reads it.

    Why: pandas pads a short row with empty cells (its missing answers would read as
    "unanswered") and, when the first data row has one field more than the header, makes the
    first column the index, so every answer moves one column left (issue 12: two people with
    an emergency sign came out ``selfcare``). Neither is allowed to happen quietly, so:

    * every row must have as many fields as the header; the rows that do not are named
      (data row number and file line) in a :class:`CohortError`, and nothing is triaged;
    * the one exception is an exporter's trailing delimiter: when *every* row ends with one
      extra, empty field (or the header ends with an unnamed column that is empty in every
      row), that field is dropped and the file is read as meant;
    * a line over ``MAX_LINE_CHARS``, a cell over the csv module's field limit, text that is not
      UTF-8 and duplicated column names are errors too.

    ``limit`` stops after that many data rows (for ``read_export(..., nrows=n)``).
    """
    header: list[str] | None = None
    wrong: list[tuple[int, int, int]] = []  # (row, line, fields) of the first rows that do not fit
    extra: list[tuple[int, int, int]] = []  # the same for the first rows with one empty extra field
    wrong_count = plus_one = rows = 0
    last_filled = False  # some row has a value in the header's last column
    reader = None
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(_bounded_lines(handle))
            line = 0
            for record in reader:
                start, line = line + 1, reader.line_num
                if not record or (len(record) == 1 and not record[0].strip(" \t")):
                    continue  # a blank or whitespace-only line: pandas skips it too
                if header is None:
                    header = record
                    continue
                if limit is not None and rows >= limit:
                    break
                rows += 1
                if len(record) == len(header):
                    last_filled = last_filled or record[-1] != ""
                elif len(record) == len(header) + 1 and record[-1] == "":
                    plus_one += 1
                    if len(extra) < NAMED_ROWS:
                        extra.append((rows, start, len(record)))
                else:
                    wrong_count += 1
                    if len(wrong) < NAMED_ROWS:
                        wrong.append((rows, start, len(record)))
    except UnicodeDecodeError:
        raise CohortError(f"{_encoding_problem(path)}; save the export as UTF-8 CSV") from None
    except csv.Error as exc:
        at = reader.line_num if reader is not None else 1
        raise CohortError(f"not a readable CSV file (line {at}: {exc})") from None
    if header is None:
        raise CohortError(
            "the file is empty: expected a header row of question ids, then one row per person"
        )
    columns = len(header)
    trailing = bool(rows) and plus_one == rows
    if plus_one and not trailing:
        # Some rows end with an extra empty field and some do not: which cells belong where
        # cannot be known, so the rows with the extra field are named as not fitting too.
        wrong_count += plus_one
        wrong = sorted(wrong + extra)[:NAMED_ROWS]
    if wrong_count:
        raise CohortError(_shape_message(columns, rows, wrong_count, wrong))
    if columns > 1 and header[-1].strip() == "" and not trailing and not last_filled:
        columns, header, trailing = columns - 1, header[:-1], True  # "a,b," over "1,2,"
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise CohortError(f"duplicated column(s): {', '.join(shown(d) for d in duplicated)}")
    return Shape(columns=columns, rows=rows, trailing=trailing)


def _bounded_lines(handle: Any) -> Iterator[str]:
    """The file's lines, refusing one longer than MAX_LINE_CHARS before it is held whole."""
    number = 0
    while line := handle.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            raise CohortError(
                f"line {number} is longer than {MAX_LINE_CHARS:,} characters; a clinic export "
                "holds one short row per person"
            )
        yield line


def _encoding_problem(path: str | os.PathLike[str]) -> str:
    """Where the file stops being UTF-8, in words (read again in binary: the text reader only
    knows the block it was decoding, not the line)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with open(path, "rb") as handle:
        first = handle.read(2)
        if first in (b"\xff\xfe", b"\xfe\xff"):
            return "the file is UTF-16 text"
        handle.seek(0)
        while block := handle.read(1 << 16):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                bad = offset + max(0, exc.start)
                line += block[: max(0, exc.start)].count(b"\n")
                return (
                    f"the file is not UTF-8 text (byte 0x{block[exc.start]:02X} on line {line}, "
                    f"byte {bad:,})"
                )
            offset += len(block)
            line += block.count(b"\n")
    return "the file is not UTF-8 text"


def _shape_message(columns: int, rows: int, count: int, named: list[tuple[int, int, int]]) -> str:
    listed = "; ".join(f"row {r} (line {line}) has {n}" for r, line, n in named)
    more = f"; and {count - len(named):,} more row(s)" if count > len(named) else ""
    return (
        f"{count:,} of {rows:,} row(s) do not have one field per column: the header has "
        f"{columns}, {listed}{more}. Nothing was triaged: a row whose cells do not line up "
        "with the header could put an answer under another question. Quote cells that contain "
        "a comma, and export every row with the same columns"
    )


def worklist(triaged: pd.DataFrame) -> pd.DataFrame:
    """Rows in the order a clinician should review them: emergencies first, then rows that
    could not be triaged, then urgent, soon and self-care; file order within each level."""
    order = triaged["urgency"].map({u: i for i, u in enumerate(REVIEW_ORDER)}).astype(int)
    return triaged.iloc[np.argsort(order.to_numpy(), kind="stable")]


def urgency_counts(triaged: pd.DataFrame) -> pd.DataFrame:
    """Rows per urgency (review order, zeros kept) with their share of the file in percent."""
    counts = triaged["urgency"].value_counts(sort=False).reindex(list(REVIEW_ORDER), fill_value=0)
    return pd.DataFrame(
        {
            "rows": counts.astype(int),
            "percent": (100 * counts / max(1, len(triaged))).round(1),
        }
    ).rename_axis("urgency")


def split_counts(column: pd.Series, name: str) -> pd.Series:
    """How often each ``;``-joined item appears in a result column (most frequent first, then
    by name so ties print the same way every run)."""
    items = column.astype(str).str.split(MULTI_SEPARATOR).explode()
    items = items[items.notna() & items.ne("")]
    counts = items.value_counts()
    order = sorted(counts.index, key=lambda k: (-counts[k], k))
    return counts.reindex(order).rename("rows").rename_axis(name)


def cause_counts(triaged: pd.DataFrame, knowledge: Knowledge | None = None) -> pd.DataFrame:
    """Rows per top possible cause, with the cause's plain name (rows without one are left out)."""
    kb = knowledge or load_knowledge()
    counts = split_counts(triaged["top_cause"], "top_cause")
    return pd.DataFrame(
        {
            "name": [kb.causes[c].name for c in counts.index],
            "rows": counts.to_numpy(),
        },
        index=counts.index,
    )


def red_flag_counts(triaged: pd.DataFrame, knowledge: Knowledge | None = None) -> pd.DataFrame:
    """Rows in which each red-flag rule fired, with its urgency and group."""
    kb = knowledge or load_knowledge()
    rules = {r.id: r for r in kb.red_flags}
    counts = split_counts(triaged["red_flags"], "rule")
    return pd.DataFrame(
        {
            "urgency": [rules[r].urgency.value for r in counts.index],
            "group": [rules[r].group for r in counts.index],
            "rows": counts.to_numpy(),
        },
        index=counts.index,
    )


def unanswered_counts(triaged: pd.DataFrame) -> pd.Series:
    """Rows in which each red-flag question was left unanswered while it could raise urgency."""
    return split_counts(triaged["unanswered_red_flags"], "question")


def plot_overview(triaged: pd.DataFrame, knowledge: Knowledge | None = None, top: int = 10) -> Any:
    """Four charts of a triaged cohort: urgency mix, top causes, red-flag frequencies and
    unanswered red-flag questions. Returns the matplotlib Figure (imported here, lazily)."""
    import matplotlib.pyplot as plt

    from .report import URGENCY_COLOURS

    kb = knowledge or load_knowledge()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    mix = urgency_counts(triaged)["rows"]
    not_a_level = {ERROR: "#555555", INCOMPLETE: "#9e9e9e"}
    colours = [not_a_level.get(u) or URGENCY_COLOURS[Urgency(u)][0] for u in mix.index]
    # Chart labels in words, not ids (the tables below the chart keep the ids).
    words = {ERROR: "could not be triaged", INCOMPLETE: "not enough information"}
    words |= {u.value: u.label for u in Urgency}
    axes[0, 0].bar([words.get(u, u) for u in mix.index], mix.to_numpy(), color=colours)
    axes[0, 0].tick_params(axis="x", labelrotation=20)
    axes[0, 0].set_title("Urgency mix (rows)")

    def short(text: str, limit: int = 48) -> str:
        return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

    rules = {r.id: r for r in kb.red_flags}
    panels = [
        (
            axes[0, 1],
            cause_counts(triaged, kb)["rows"],
            "Top possible cause (rows)",
            lambda c: kb.causes[c].name,
        ),
        (
            axes[1, 0],
            red_flag_counts(triaged, kb)["rows"],
            "Red flags fired (rows)",
            lambda r: short(rules[r].reason),
        ),
        (
            axes[1, 1],
            unanswered_counts(triaged),
            "Red-flag questions unanswered (rows)",
            lambda q: short(kb.questions[q].prompt) if q in kb.questions else str(q),
        ),
    ]
    for ax, counts, title, label in panels:
        shown = counts.head(top)[::-1]
        ax.barh([label(i) for i in shown.index], shown.to_numpy(), color="#37474f")
        ax.set_title(title)
    plt.close(fig)  # shown once, as the cell's value; not again by the inline backend
    return fig


def check_rows_read(done: int, shape: Shape) -> None:
    """The shape check and the CSV reader (pandas or dask) must agree on every row."""
    if done != shape.rows:
        raise CohortError(
            f"read {done:,} rows where the file has {shape.rows:,}; nothing was written "
            "(check the file's quoting)"
        )


@contextmanager
def written_output(target: str, bar: _ProgressBar | None) -> Iterator[TextIO]:
    """A file handle on ``target.partial``, renamed to ``target`` only when the block ends
    without an error, so a failed run never leaves a half-written output. The CSV reader's own
    errors become a :class:`CohortError`; the progress bar is closed in every case."""
    partial = target + ".partial"
    try:
        with open(partial, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(partial, target)
    except pd.errors.EmptyDataError:
        raise CohortError(
            "the file is empty: expected a header row of question ids, then one row per person"
        ) from None
    except pd.errors.ParserError as exc:
        raise CohortError(f"not a readable CSV file ({shown(str(exc), 200)})") from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
        if bar is not None:
            bar.close()


def triage_csv(
    source: str,
    target: str,
    *,
    keep: Iterable[str] = (),
    chunk_rows: int = PROGRESS_MIN_ROWS,
    stream: Any = None,
) -> pd.Series:
    """Triage a CSV export into a new CSV, chunk by chunk (memory stays flat on long files).

    A progress bar is drawn on ``stream`` (stderr) when the file holds more than
    ``PROGRESS_MIN_ROWS`` rows. Returns the rows per urgency. Raises :class:`CohortError` for a
    file of the wrong shape, unknown columns or identifying subjects (nothing is written: the
    output appears only when every row was triaged), and ``OSError`` for unreadable files.
    The output is :func:`csv_ready` (formulas neutralised) and never replaces the input.
    """
    import sys

    if os.path.exists(target) and os.path.exists(source) and os.path.samefile(source, target):
        raise CohortError(
            f"the output {target} is the input file; write the results to another file"
        )
    stream = stream if stream is not None else sys.stderr
    shape = check_shape(source)  # before anything is written
    bar = _ProgressBar(shape.rows, stream) if shape.rows > PROGRESS_MIN_ROWS else None
    counts = pd.Series(0, index=list(REVIEW_ORDER), dtype=int)
    done = 0
    wrote_header = False
    with written_output(target, bar) as handle:
        with _read_checked(source, shape, chunksize=max(1, int(chunk_rows))) as chunks:
            for chunk in chunks:
                out = triage_frame(chunk, keep=keep, first_row=done + 1)
                csv_ready(out).to_csv(
                    handle, index=False, header=not wrote_header, lineterminator="\n"
                )
                wrote_header = True
                counts += out["urgency"].value_counts().reindex(counts.index, fill_value=0)
                done += len(chunk)
                if bar is not None:
                    bar.update(done)
        if not wrote_header:  # header only: still write the header with the result columns
            header = _read_checked(source, shape, nrows=0)
            triage_frame(header, keep=keep).to_csv(handle, index=False, lineterminator="\n")
        check_rows_read(done, shape)
    return counts


def _read_checked(path: str | os.PathLike[str], shape: Shape, **kwargs: Any) -> Any:
    """pandas.read_csv on a file :func:`check_shape` passed: text cells, header columns only."""
    return pd.read_csv(
        path, dtype=str, na_filter=False, usecols=range(shape.columns), encoding="utf-8", **kwargs
    )


class _ProgressBar:
    """A one-line text progress bar (no dependency): rows done, percent, rows per second."""

    def __init__(self, total: int, stream: Any, width: int = 30):
        import time

        self.total, self.stream, self.width = max(1, total), stream, width
        self.start = time.monotonic()

    def update(self, done: int) -> None:
        import time

        share = min(1.0, done / self.total)
        filled = int(round(share * self.width))
        rate = done / max(1e-9, time.monotonic() - self.start)
        self.stream.write(
            f"\rtriaging [{'#' * filled}{'.' * (self.width - filled)}] {share:4.0%} "
            f"{min(done, self.total):,}/{self.total:,} rows, {rate:,.0f} rows/s"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


# --------------------------------------------------------------------------------- columns


def _check_columns(frame: pd.DataFrame, kb: Knowledge, keep: tuple[str, ...]) -> None:
    columns = list(frame.columns)
    seen = Counter(columns)  # not columns.count(c) per column: a wide file made that quadratic
    duplicated = sorted({str(c) for c, n in seen.items() if n > 1})
    if duplicated:
        raise CohortError(f"duplicated column(s): {', '.join(map(shown, duplicated))}")
    clashing = [c for c in columns if c in OUTPUT_COLUMNS]
    if clashing:
        raise CohortError(
            f"column(s) {', '.join(map(repr, clashing))} would be overwritten by the result; "
            "rename them in the input"
        )
    allowed = set(kb.questions) | {SUBJECT_COLUMN} | set(keep)
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        described = []
        for c in unknown[:NAMED_COLUMNS]:
            close = difflib.get_close_matches(str(c), list(kb.questions), n=1)
            described.append(shown(c) + (f" (did you mean {close[0]!r}?)" if close else ""))
        if len(unknown) > NAMED_COLUMNS:
            described.append(f"and {len(unknown) - NAMED_COLUMNS:,} more")
        raise CohortError(
            f"unknown column(s) {', '.join(described)}: columns must be question ids "
            f"(see `python -m aid questions`) or {SUBJECT_COLUMN!r}; to carry other columns "
            "through untouched name them in keep= (command line: --keep COLUMN)"
        )


def _check_subjects(frame: pd.DataFrame, first_row: int) -> None:
    """Refuse the frame when a ``subject`` is not a pseudonymous id, as the encounter log does.

    Why: the output is a file that travels (e-mail, shared drives); it must not carry the names
    or e-mail addresses that :func:`aid.store.check_subject` keeps out of the log. The rows are
    named, never the values (they may be exactly the contact details). An empty cell is fine.
    Checked once per distinct value.
    """
    if SUBJECT_COLUMN not in frame.columns:
        return
    column = frame[SUBJECT_COLUMN]
    positions = np.arange(len(column))
    if pd.api.types.is_string_dtype(column) or column.dtype == object:
        # Most ids match the log's pattern as they are (checked by pandas, not a Python call
        # per row); only the others go through aid.store.check_subject, which decides.
        plain = column.astype("string").str.fullmatch(SUBJECT_PATTERN.pattern)
        positions = positions[~plain.fillna(False).to_numpy(dtype=bool)]
        column = column.iloc[positions]
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    bad = np.array([not _is_pseudonymous(u) for u in uniques] + [False], dtype=bool)
    rows = positions[bad[codes]]
    if not len(rows):
        return
    named = ", ".join(str(first_row + int(i)) for i in rows[:NAMED_ROWS])
    more = f" and {len(rows) - NAMED_ROWS:,} more" if len(rows) > NAMED_ROWS else ""
    raise CohortError(
        f"the {SUBJECT_COLUMN!r} column holds something other than a pseudonymous id in row(s) "
        f"{named}{more} (not shown: it may be a name or contact detail). Names and contact "
        "details must not be written; use ids such as P-0042 (1-64 letters, digits, '_' or '-'), "
        "or leave the cell empty. Nothing was written"
    )


def _is_pseudonymous(value: Any) -> bool:
    """The log's rule (aid.store.check_subject), on a cell: text trimmed, whole numbers allowed."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value) or (math.isfinite(value) and float(value).is_integer())
    if not isinstance(value, str):
        return False
    text = value.strip()
    if not text:
        return True
    try:
        check_subject(text)
    except StoreError:
        return False
    return True


def csv_ready(triaged: pd.DataFrame) -> pd.DataFrame:
    """A triaged frame ready to be written as CSV: every text cell that a spreadsheet would run
    as a formula (``= + - @``, tab, CR) gets a leading ``'``, exactly as ``log export`` does
    (:func:`aid.store.neutralise_formula`). A bad cell such as ``=cmd|' /C calc'!A0`` is kept
    (the reviewer must see what was there) but can no longer run. Once per distinct value.
    """
    out = triaged.copy(deep=False)
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = [neutralise_formula(c) for c in column.cat.categories]
            if categories != list(column.cat.categories):
                out[name] = pd.Categorical.from_codes(column.cat.codes, categories=categories)
        elif column.dtype == object or pd.api.types.is_string_dtype(column):
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
            fixed = [neutralise_formula(u) for u in uniques]
            if any(a is not b for a, b in zip(fixed, uniques, strict=True)):
                values = np.array(fixed + [None], dtype=object)[codes]
                out[name] = pd.Series(values, index=column.index, dtype=object)
    return out


# --------------------------------------------------------------------------------- planning


_plans: dict[tuple[str, str], _Plan] = {}
_plans_lock = threading.Lock()


def _plan(kb: Knowledge) -> _Plan:
    """The plan of a knowledge base, built once per process (tables are immutable)."""
    key = (str(kb.directory), kb.version)
    with _plans_lock:
        if key not in _plans:
            _plans[key] = _Plan(kb)
        return _plans[key]


class _Plan:
    """The decision plan (:func:`aid.decisions.plan_of`), the output lists, and the distinct
    validated answers seen so far per question (shared by all blocks: codes only grow)."""

    def __init__(self, kb: Knowledge):
        self.kb = kb
        self.decisions = plan_of(kb)
        # Fired rule ids are listed as Result.fired_rule_ids lists them: most urgent first, table
        # order within a level.
        order = sorted(range(len(kb.red_flags)), key=lambda i: -kb.red_flags[i].urgency.rank)
        self.rule_order = np.array(order, dtype=np.intp)
        self.rule_ids = [kb.red_flags[i].id for i in order]
        self.question_order = {q: i for i, q in enumerate(kb.questions)}
        self.hideable = [q.id for q in kb.questions.values() if q.enable_when.atoms]
        self.codes: dict[str, dict[Any, int]] = {q: {} for q in kb.questions}
        self.values: dict[str, list[Any]] = {q: [] for q in kb.questions}
        self.lock = threading.Lock()

    def code(self, qid: str, value: Any) -> int:
        with self.lock:
            codes = self.codes[qid]
            if value not in codes:
                codes[value] = len(codes)
                self.values[qid].append(value)
            return codes[value]


class _Texts:
    """Distinct ``;``-joined texts over all blocks, for one categorical output column."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}

    def add(self, local_codes: np.ndarray, strings: Sequence[str]) -> np.ndarray:
        lookup = np.array(
            [self.index.setdefault(s, len(self.index)) for s in strings], dtype=np.int32
        )
        return lookup[local_codes] if len(lookup) else np.zeros(len(local_codes), dtype=np.int32)

    def categorical(self, codes: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=list(self.index))


def _patterns(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the distinct rows of a small-integer matrix, and one row index per code.

    Rows are packed into 64-bit words and factorised word by word (hash-based, vectorised), so
    text is built once per distinct pattern instead of once per row.
    """
    n, k = matrix.shape
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    packed = np.packbits(matrix, axis=1) if matrix.dtype == bool else matrix.astype(np.uint8)
    width = max(8, -(-packed.shape[1] // 8) * 8)  # whole 64-bit words, at least one
    padded = np.zeros((n, width), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    words = padded.view(np.uint64)
    codes = np.zeros(n, dtype=np.int64)
    for j in range(words.shape[1]):
        word_codes, uniques = pd.factorize(words[:, j])
        codes, _ = pd.factorize(codes * len(uniques) + word_codes)
    _, first = np.unique(codes, return_index=True)
    return codes, first


# --------------------------------------------------------------------------------- one block


class _Block:
    """One block of rows: each distinct cell validated by :func:`aid.answers.cell_answer`,
    answers to questions that are not asked removed (:func:`aid.enablement.visible_by_codes`),
    the rules applied by :func:`aid.decisions.decide`, and the result codes and texts."""

    def __init__(self, plan: _Plan, frame: pd.DataFrame):
        self.kb, self.plan = plan.kb, plan
        self.n = len(frame)
        self.codes: dict[str, np.ndarray] = {}  # index into plan.values[qid], -1 unanswered
        self.problems: list[pd.Series] = []  # error messages indexed by row position
        for qid, question in self.kb.questions.items():
            if qid in frame.columns:
                self.codes[qid] = self._validate(question, frame[qid])
        self.bad = np.zeros(self.n, dtype=bool)
        for problem in self.problems:
            self.bad[problem.index.to_numpy()] = True

    def _validate(self, question: Question, column: pd.Series) -> np.ndarray:
        """Codes of the column's validated answers; each distinct cell is validated once."""
        raw_codes, uniques = pd.factorize(_hashable(column), use_na_sentinel=True)
        lookup = np.full(len(uniques) + 1, -1, dtype=np.int32)  # last entry: NaN (-1) stays -1
        problems: dict[int, str] = {}
        for i, raw in enumerate(uniques):
            try:
                value = cell_answer(question, raw.value if isinstance(raw, _Opaque) else raw)
            except AnswerError as exc:
                problems[i] = str(exc)
                continue
            if value is not None:
                lookup[i] = self.plan.code(question.id, value)  # shared by all blocks
        codes = lookup[raw_codes]
        if problems:
            bad_unique = np.zeros(len(uniques) + 1, dtype=bool)
            bad_unique[list(problems)] = True
            positions = np.flatnonzero(bad_unique[raw_codes])
            texts = np.array(
                [problems.get(i, "") for i in range(len(uniques))] + [""], dtype=object
            )
            self.problems.append(pd.Series(texts[raw_codes[positions]], index=positions))
        return codes

    def run(self) -> None:
        kb, plan, n = self.kb, self.plan, self.n
        values = plan.values
        # Answers to questions that are not asked for a row's answers are ignored (aid.triage).
        shown = visible_by_codes(kb.questions, self.codes, values, n)
        ignored = np.zeros((n, len(plan.hideable)), dtype=bool)
        for j, qid in enumerate(plan.hideable):
            column = self.codes.get(qid)
            if column is None:
                continue
            hidden = ~shown[qid] & (column >= 0)
            if hidden.any():
                ignored[:, j] = hidden
                self.codes[qid] = np.where(hidden, -1, column).astype(np.int32)

        decided = decide(plan.decisions, facts_of_codes(plan.decisions, self.codes, values, n), 1)

        review = {u: i for i, u in enumerate(REVIEW_ORDER)}
        by_rank = np.array([review[u.value] for u in LEVELS], np.int8)
        levels = np.where(decided.incomplete, np.int8(review[INCOMPLETE]), by_rank[decided.level])
        self.urgency_codes = np.where(self.bad, np.int8(review[ERROR]), levels)
        self.top_codes = np.where(self.bad, 0, decided.causes[0] + 1).astype(np.int16)
        self.service_codes = np.where(self.bad, 0, decided.service + 1).astype(np.int16)

        # Rows that failed validation are not triaged at all: "error", nothing else.
        fired = decided.fired[plan.rule_order].T.copy()
        fired[self.bad] = False
        could = decided.could.T.copy()
        could[self.bad] = -1
        ignored[self.bad] = False

        ids = plan.rule_ids
        codes, first = _patterns(fired)
        flags = [
            MULTI_SEPARATOR.join(i for i, hit in zip(ids, row, strict=True) if hit)
            for row in fired[first].tolist()
        ]
        cands = plan.decisions.candidates
        qcodes, qfirst = _patterns((could + 1).astype(np.uint8))
        # As Result.unanswered lists them: most urgent first, then questionnaire order (the
        # candidates' own order).
        ranks = [u.rank for u in reversed(LEVELS)]
        unanswered = [
            MULTI_SEPARATOR.join(
                c for rank in ranks for c, r in zip(cands, row, strict=True) if r == rank
            )
            for row in could[qfirst].tolist()
        ]
        icodes, ifirst = _patterns(ignored)
        hideable = plan.hideable
        ignored_texts = [
            MULTI_SEPARATOR.join(q for q, hit in zip(hideable, row, strict=True) if hit)
            for row in ignored[ifirst].tolist()
        ]
        self.texts = {
            "red_flags": (codes, flags),
            "unanswered_red_flags": (qcodes, unanswered),
            "ignored_answers": (icodes, ignored_texts),
            "error": self._error_texts(),
        }

    def _error_texts(self) -> tuple[np.ndarray, list[str]]:
        if not self.problems:
            return np.zeros(self.n, dtype=np.intp), [""]
        # Problems were recorded in questionnaire order, so a row's messages keep that order.
        joined = pd.concat(self.problems).groupby(level=0, sort=True).agg(ERROR_SEPARATOR.join)
        texts = np.full(self.n, "", dtype=object)
        texts[joined.index.to_numpy()] = joined.to_numpy()
        codes, uniques = pd.factorize(texts)
        return codes, [str(u) for u in uniques]


class _ListCell(tuple):
    """A list-valued cell made hashable, so each distinct one is validated once like text."""

    def __str__(self) -> str:
        return repr(list(self))


class _Opaque:
    """Any other cell that cannot be hashed (a dict, a list holding lists...): compared by
    identity, so pandas can factorise the column and the engine's validator reports the value
    as it would for one person (a row error naming the column), never a ``TypeError``."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def _hashable(column: pd.Series) -> pd.Series:
    """Cells holding Python lists, tuples or sets (natural pandas input for a multi-choice
    answer, as ``aid.triage`` takes it) become :class:`_ListCell` tuples, and any other
    unhashable cell an :class:`_Opaque`; other cells are untouched. Without this, pandas raises
    ``TypeError: unhashable type: 'list'``."""
    if column.dtype != object:
        return column
    cells = column.to_numpy(dtype=object)
    out = None
    for i, v in enumerate(cells):
        if isinstance(v, (str, float, int)):
            continue
        cell: Any = v
        if isinstance(v, (list, tuple, set, frozenset)):
            cell = _ListCell(sorted(v, key=str) if isinstance(v, (set, frozenset)) else v)
        try:
            hash(cell)
        except TypeError:
            cell = _Opaque(v)
        if cell is not v:
            if out is None:
                out = cells.copy()  # element by element: pandas would unpack a sequence
            out[i] = cell
    if out is None:
        return column
    return pd.Series(out, index=column.index, dtype=object)


# --------------------------------------------------------------------------------- synthetic data

#: Shapes of a few numeric answers in synthetic exports (others: whole numbers over the range).
#: These make the sample look like a clinic's mix (adults, mostly days-old pain), nothing more.
_SYNTHETIC_NUMBERS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "age": lambda rng, n: np.clip(np.round(rng.normal(42, 15, n)), 18, 95),
    "duration_days": lambda rng, n: np.minimum(rng.geometric(0.2, n) - 1, 120).astype(float),
}
#: Chance that an urgent/emergency red-flag option is chosen, a ``soon`` one, an ordinary "yes".
_RARE, _UNCOMMON, _YES = 0.006, 0.04, 0.3


def synthetic_frame(
    n: int, seed: int = 2026, knowledge: Knowledge | None = None, bad_fraction: float = 0.0
) -> pd.DataFrame:
    """A synthetic clinic export: ``n`` rows of plausible answers as CSV text, fully seeded.

    Every option that can fire an urgent or emergency red flag is rare (``_RARE``), so the mix
    looks like a primary-care clinic rather than an emergency department. Questions hidden by
    their ``enable_when`` are left empty, some optional answers are left empty at random, and a
    ``bad_fraction`` of rows gets one invalid cell (to show how errors are reported). Vectorised
    per question, so a million rows take seconds (used by ``benchmarks/cohort.py``).
    """
    kb = knowledge or load_knowledge()
    rng = np.random.default_rng(seed)
    rare = _rare_options(kb)
    columns: dict[str, np.ndarray] = {}
    numeric: set[str] = set()
    for q in kb.questions.values():
        if q.kind in ("number", "scale"):
            columns[q.id] = _synthetic_numbers(q, rng, n)
            numeric.add(q.id)
        elif q.kind == "multi":
            columns[q.id] = _synthetic_multi(q, rng, n, rare.get(q.id, {}))
        else:
            columns[q.id] = _synthetic_choice(q, rng, n, rare.get(q.id, {}))
        skip = rng.random(n) < (0.01 if q.required else 0.06)
        _blank(columns[q.id], skip)
    frame = pd.DataFrame(columns)
    for q in sorted(kb.questions.values(), key=lambda q: _depth(kb, q.id)):
        if q.enable_when.atoms:
            hidden = ~q.enable_when.mask(frame).to_numpy(dtype=bool)
            _blank(columns[q.id], hidden)
            frame[q.id] = columns[q.id]
    text: dict[str, Any] = {
        SUBJECT_COLUMN: np.char.add("P", np.char.zfill(np.arange(1, n + 1).astype(str), 7))
    }
    for qid, values in columns.items():
        if qid in numeric:
            shown = (
                np.where(np.isnan(values), 0, values).astype(np.int64).astype(str).astype(object)
            )
            shown[np.isnan(values)] = ""
            text[qid] = shown
        else:
            text[qid] = np.where(pd.isna(values), "", values).astype(object)
    _plant_errors(text, kb, rng, n, bad_fraction)
    return pd.DataFrame({k: pd.array(v, dtype="str") for k, v in text.items()})


def _rare_options(kb: Knowledge) -> dict[str, dict[str, float]]:
    """Chance of each option that makes a red-flag atom true: rare for urgent and emergency
    rules, uncommon for ``soon`` rules (the rarest wins)."""
    rare: dict[str, dict[str, float]] = {}
    for rule in kb.red_flags:
        chance = _RARE if rule.urgency >= Urgency.URGENT else _UNCOMMON
        for atom in rule.when.atoms:
            if atom.op in ("=", "in"):
                options = rare.setdefault(atom.question, {})
                for value in atom.values:
                    options[value] = min(chance, options.get(value, 1.0))
    return rare


def _depth(kb: Knowledge, qid: str, seen: tuple[str, ...] = ()) -> int:
    """How many enable_when links lie above a question (hide parents before children)."""
    parents = [p for p in kb.questions[qid].enable_when.questions if p not in seen]
    return 1 + max((_depth(kb, p, seen + (qid,)) for p in parents), default=0)


def _blank(values: np.ndarray, where: np.ndarray) -> None:
    values[where] = np.nan if values.dtype.kind == "f" else None


def _synthetic_numbers(q: Question, rng: np.random.Generator, n: int) -> np.ndarray:
    assert q.minimum is not None and q.maximum is not None
    make = _SYNTHETIC_NUMBERS.get(q.id)
    if make is not None:
        values = make(rng, n)
    elif q.kind == "scale":
        values = q.minimum + rng.binomial(int(q.maximum - q.minimum), 0.45, n)
    else:
        values = rng.integers(int(q.minimum), int(q.minimum + (q.maximum - q.minimum) / 4) + 1, n)
    return np.clip(np.asarray(values, dtype=float), q.minimum, q.maximum)


def _synthetic_choice(
    q: Question, rng: np.random.Generator, n: int, rare: dict[str, float]
) -> np.ndarray:
    if q.kind == "yesno":
        weights = np.array([rare.get("yes", _YES), 0.0])
        weights[1] = 1 - weights[0]
    else:
        weights = np.array([rare.get(o, np.nan) for o in q.options])
        common = np.isnan(weights)
        weights[common] = max(0.0, 1 - weights[~common].sum()) / max(1, common.sum())
    picked = rng.choice(len(q.options), size=n, p=weights / weights.sum())
    return np.array(q.options, dtype=object)[picked]


def _synthetic_multi(
    q: Question, rng: np.random.Generator, n: int, rare: dict[str, float]
) -> np.ndarray:
    real = [o for o in q.options if o != "none"]
    chance = np.array([rare.get(o, 0.25) for o in real])
    chosen = rng.random((n, len(real))) < chance
    if "none" in q.options:
        chosen &= (rng.random(n) >= 0.55)[:, None]
    bits = (chosen.astype(np.int64) << np.arange(len(real), dtype=np.int64)).sum(axis=1)
    distinct, inverse = np.unique(bits, return_inverse=True)
    fallback = "none" if "none" in q.options else real[0]
    texts = [
        MULTI_SEPARATOR.join(o for j, o in enumerate(real) if b >> j & 1) or fallback
        for b in distinct.tolist()
    ]
    return np.array(texts, dtype=object)[inverse]


def _plant_errors(
    text: dict[str, Any], kb: Knowledge, rng: np.random.Generator, n: int, fraction: float
) -> None:
    """Give ``fraction`` of the rows one invalid cell each, of the kinds exports really contain."""
    count = int(round(n * fraction))
    if not count:
        return
    rows = np.sort(rng.choice(n, size=count, replace=False))
    questions = list(kb.questions.values())
    for row, pick in zip(
        rows.tolist(), rng.integers(0, len(questions), count).tolist(), strict=True
    ):
        q = questions[pick]
        if q.kind in ("number", "scale"):
            bad = f"{q.maximum + 1:g}" if row % 2 else "unknown"
        elif q.kind == "multi":
            bad = f"{q.options[-1]};{q.options[-1].replace('_', ' ')}x"
        else:
            bad = "Yes" if q.kind == "yesno" else q.options[0].capitalize() + "?"
        text[q.id][row] = bad


def __getattr__(name: str) -> Any:
    """``aid.cohort.triage_dask`` from :mod:`aid.cohort_dask`, imported on first use only: dask
    is an optional extra, and ``import aid.cohort`` must not import it."""
    if name == "triage_dask":
        from .cohort_dask import triage_dask

        return triage_dask
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
