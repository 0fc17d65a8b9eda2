"""Cohorts larger than memory: the cohort triage of :mod:`aid.cohort`, partition by partition on dask.

Why a module of its own: dask is an optional extra (``pip install back-cramp-aid[dask]``), and
``import aid`` / ``import aid.cohort`` must stay light, so only this module imports it
(``aid.cohort.triage_dask`` is re-exported lazily). Nothing here decides anything clinical: every
partition goes through the public :func:`aid.cohort.triage_frame`, so the dask path cannot
disagree with the pandas path (``tests/unit/test_cohort_dask.py`` proves equality, error rows
included).

* :func:`triage_dask` maps ``triage_frame`` over the partitions of a dask DataFrame. Column
  problems (unknown, duplicated, clashing columns) are raised at once, on the frame's metadata,
  before anything is computed.
* :func:`triage_csv_dask` is ``python -m aid cohort IN OUT --engine dask``: the same checks as
  :func:`aid.cohort.triage_csv` (the file's shape, streamed by :func:`aid.cohort.check_shape`,
  before anything is written; formulas neutralised by :func:`aid.cohort.csv_ready`; the
  subject-id rule with file row numbers; no output file unless every row was triaged), but the
  file is read by dask in byte blocks and written partition by partition, a few partitions at a
  time, so the whole file is never in memory.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterable
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd
from dask.dataframe.utils import clear_known_categories

from .cohort import (
    BLOCK_ROWS,
    PROGRESS_MIN_ROWS,
    REVIEW_ORDER,
    CohortError,
    Shape,
    _ProgressBar,
    check_rows_read,
    check_shape,
    csv_ready,
    triage_frame,
    written_output,
)
from .knowledge import Knowledge

#: Bytes of CSV per partition. A partition is held as text cells, triaged and written; about
#: 16 MB of CSV (some 100k rows) keeps each worker's memory in the low hundreds of MB.
BLOCKSIZE = 16_000_000
#: Result columns whose categories depend on the rows (``;``-joined texts): unknown to dask until
#: computed. ``urgency``, ``service`` and ``top_cause`` have fixed categories.
_TEXT_COLUMNS = ("red_flags", "unanswered_red_flags", "error")


class PartitionCohortError(CohortError):
    """A :class:`~aid.cohort.CohortError` raised while one partition was triaged (a subject that
    is not a pseudonymous id): it says which partition, since row numbers in the message count
    from that partition's first row."""

    def __init__(self, message: str, partition: int):
        super().__init__(message)
        self.partition = partition


def triage_dask(
    ddf: dd.DataFrame,
    knowledge: Knowledge | None = None,
    *,
    keep: Iterable[str] = (),
    block_rows: int = BLOCK_ROWS,
) -> dd.DataFrame:
    """:func:`aid.cohort.triage_frame` on every partition of a dask DataFrame (lazy).

    The result has the columns and values ``triage_frame`` gives on the whole frame: the input
    columns, then ``urgency``, ``service``, ``top_cause``, ``red_flags``,
    ``unanswered_red_flags`` and ``error`` (categorical; the last three with categories known
    only once computed). A bad cell makes its row ``urgency == "error"`` with a message, as in
    pandas; no row is dropped.

    Raises
    ------
    CohortError
        at once for unknown, duplicated or clashing columns (checked on ``ddf``'s metadata);
        :class:`PartitionCohortError` when computing, for a ``subject`` that is not a
        pseudonymous id (its row numbers count from the start of that partition).
    """
    keep = tuple(keep)
    meta = triage_frame(ddf._meta, knowledge, keep=keep, block_rows=block_rows)
    meta = clear_known_categories(meta, cols=list(_TEXT_COLUMNS))
    return ddf.map_partitions(
        _triage_partition,
        knowledge=knowledge,
        keep=keep,
        block_rows=block_rows,
        meta=meta,
        align_dataframes=False,
    )


def _triage_partition(
    frame: pd.DataFrame,
    *,
    knowledge: Knowledge | None,
    keep: tuple[str, ...],
    block_rows: int,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    number = partition_info["number"] if partition_info else 0
    try:
        return triage_frame(frame, knowledge, keep=keep, block_rows=block_rows)
    except CohortError as exc:
        raise PartitionCohortError(
            f"in partition {number} (row numbers count from that partition's first row): {exc}",
            number,
        ) from None


def triage_csv_dask(
    source: str,
    target: str,
    *,
    keep: Iterable[str] = (),
    blocksize: int | None = None,
    workers: int | None = None,
    stream: Any = None,
) -> pd.Series:
    """Triage a CSV export into a new CSV on dask, with what :func:`aid.cohort.triage_csv` does.

    The file's shape is checked first, streaming (:func:`aid.cohort.check_shape`), and so is
    that no record spans two lines (:func:`check_single_lines`: dask splits the file at line
    ends). Then ``workers`` partitions (default: the cores this process may use) are triaged
    at a time on dask's threads and appended to ``target + ".partial"`` in file order,
    formulas neutralised (:func:`aid.cohort.csv_ready`); the output appears only when every
    row was triaged. A progress bar is drawn on ``stream`` (stderr) from
    ``PROGRESS_MIN_ROWS`` rows, in the pandas path's style. Returns the rows per urgency.

    Raises :class:`CohortError` (nothing written) for a file of the wrong shape, unknown
    columns, identifying subjects (rows numbered in the file, as in the pandas path) or a cell
    with a line break, and ``OSError`` for unreadable files.
    """
    if os.path.exists(target) and os.path.exists(source) and os.path.samefile(source, target):
        raise CohortError(
            f"the output {target} is the input file; write the results to another file"
        )
    stream = stream if stream is not None else sys.stderr
    keep = tuple(keep)
    shape = _checked_shape(source)  # before anything is written
    workers = max(1, workers or len(os.sched_getaffinity(0)))
    counts = pd.Series(0, index=list(REVIEW_ORDER), dtype=int)
    bar = _ProgressBar(shape.rows, stream) if shape.rows > PROGRESS_MIN_ROWS else None
    done = 0
    with written_output(target, bar) as handle:  # .partial until every row is written
        raw = _read_dask(source, shape, blocksize)
        parts = triage_dask(raw, keep=keep).to_delayed()
        for start in range(0, len(parts), workers):
            batch = parts[start : start + workers]
            try:
                results = dask.compute(*batch, scheduler="threads", num_workers=workers)
            except PartitionCohortError as exc:
                _raise_with_file_rows(raw, exc, start, done, keep)
                raise
            for i, out in enumerate(results, start):
                csv_ready(out).to_csv(handle, index=False, header=(i == 0), lineterminator="\n")
                counts += out["urgency"].value_counts().reindex(counts.index, fill_value=0)
                done += len(out)
                if bar is not None:
                    bar.update(done)
        check_rows_read(done, shape)
    return counts


def read_export_dask(source: str, *, blocksize: int | None = None) -> dd.DataFrame:
    """A clinic CSV export as a lazy dask DataFrame, read as :func:`aid.cohort.read_export`
    reads it: the shape checked first (streaming), every cell text, ``NA`` kept as text, only
    the header's columns (a trailing empty field dropped, no column taken as the index).

    Also refuses what dask cannot split safely (:func:`check_single_lines`). dask's own string
    conversion is off, so the cells have exactly the dtype ``read_export`` gives them.
    ``blocksize``: bytes of CSV per partition (default ``BLOCKSIZE``).
    """
    return _read_dask(source, _checked_shape(source), blocksize)


def _checked_shape(source: str) -> Shape:
    shape = check_shape(source)
    check_single_lines(source, shape)
    return shape


def _read_dask(source: str, shape: Shape, blocksize: int | None) -> dd.DataFrame:
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.read_csv(
            source,
            blocksize=blocksize or BLOCKSIZE,
            dtype=str,
            na_filter=False,
            usecols=list(range(shape.columns)),
            encoding="utf-8",
        )


def check_single_lines(source: str, shape: Shape) -> None:
    """Refuse a file that dask cannot split safely: a cell with a line break, or blank lines
    before the header.

    Why: dask cuts the file into byte blocks at line ends and gives every block the file's first
    line as its header. A quoted cell holding a line break could be cut in two, and a blank first
    line would become every block's header. The pandas path reads such files correctly, so the
    message points there. Fast path: when the file has exactly one line per data row plus the
    header (counted in bytes), no record can span lines; otherwise the records are read again
    with the csv module to find the first that does.
    """
    lines, last = 0, b"\n"
    with open(source, "rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"  # a last line without its line end
    if lines <= shape.rows + 1:
        return
    with open(source, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        line = 0
        header_seen = False
        for record in reader:
            start, line = line + 1, reader.line_num
            blank = not record or (len(record) == 1 and not record[0].strip(" \t"))
            if blank and not header_seen:
                raise CohortError(
                    f"line {start} before the header is blank; --engine dask takes the file's "
                    "first line as the header: remove the blank lines, or use --engine pandas"
                )
            if line > start and not blank:
                raise CohortError(
                    f"a cell on line {start} holds a line break; --engine dask splits the file "
                    "at line breaks and could cut that row in two: use --engine pandas, or "
                    "remove the line breaks from the cells"
                )
            header_seen = header_seen or not blank


def _raise_with_file_rows(
    raw: dd.DataFrame,
    exc: PartitionCohortError,
    first_partition: int,
    done: int,
    keep: tuple[str, ...],
) -> None:
    """Raise the subject error again with the rows numbered in the file, as the pandas path
    names them. Only on this error path are the partitions before the failing one (in its
    batch) read again to count their rows."""
    offset = done
    inputs = raw.to_delayed()
    for number in range(first_partition, exc.partition):
        offset += len(inputs[number].compute(scheduler="sync"))
    frame = inputs[exc.partition].compute(scheduler="sync")
    triage_frame(frame, keep=keep, first_row=offset + 1)  # raises the CohortError itself


__all__ = [
    "BLOCKSIZE",
    "PartitionCohortError",
    "check_single_lines",
    "read_export_dask",
    "triage_csv_dask",
    "triage_dask",
]
