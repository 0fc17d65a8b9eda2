"""A clinic export that is not what it should be never changes the advice (issue 12).

Each test is built from a reproduction in the issue: a trailing delimiter that shifted every
column, a row cut short, a formula or an e-mail address in the output, a file that is not UTF-8,
a huge cell, an output path that is the input.
"""

from __future__ import annotations

import pandas as pd
import pytest

from aid import __main__ as cli
from aid.cohort import (
    MAX_LINE_CHARS,
    CohortError,
    check_shape,
    csv_ready,
    read_export,
    triage_csv,
    triage_frame,
)


def cohort(tmp_path, text: str | bytes, *args: str) -> tuple[int, str, pd.DataFrame | None]:
    """Run `python -m aid cohort` in-process; (exit code, stderr, output frame or None)."""
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    if isinstance(text, bytes):
        source.write_bytes(text)
    else:
        source.write_text(text, encoding="utf-8")
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(["cohort", str(source), str(target), *args])
    frame = read_export(str(target)) if target.exists() else None
    return code, err.getvalue(), frame


# -- shape ------------------------------------------------------------------------------------


def test_a_trailing_delimiter_on_every_row_is_read_as_meant_not_shifted(tmp_path):
    """Reproduction: exit 0, '2 rows (2 selfcare)', the subject column holding 'yes'."""
    code, err, out = cohort(tmp_path, "subject,saddle_numbness,fever\nP-1,yes,no,\nP-2,yes,no,\n")
    assert code == 0, err
    assert list(out["subject"]) == ["P-1", "P-2"]
    assert list(out["saddle_numbness"]) == ["yes", "yes"]
    assert list(out["urgency"]) == ["emergency", "emergency"]
    assert "2 rows (2 emergency)" in err


def test_a_trailing_delimiter_on_the_header_too_is_read_as_meant(tmp_path):
    code, err, out = cohort(tmp_path, "subject,saddle_numbness,fever,\nP-1,yes,no,\nP-2,no,no,\n")
    assert code == 0, err
    assert list(out.columns[:3]) == ["subject", "saddle_numbness", "fever"]
    assert list(out["urgency"])[0] == "emergency"


def test_a_row_cut_short_is_named_and_nothing_is_written(tmp_path):
    """Reproduction: a row cut short was padded as unanswered without a word."""
    code, err, out = cohort(tmp_path, "subject,fever,saddle_numbness\nP-1,no,no\nP-2,no\n")
    assert code == 2 and out is None
    assert "the header has 3, row 2 (line 3) has 2" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_trailing_delimiter_on_some_rows_only_is_refused_naming_them(tmp_path):
    """Which rows are shifted cannot be known, so the rows with the extra field are named."""
    text = "subject,saddle_numbness,fever\nP-1,yes,no,\nP-2,yes,no\nP-3,no,no,\n"
    code, err, out = cohort(tmp_path, text)
    assert code == 2 and out is None
    assert "2 of 3 row(s)" in err
    assert "row 1 (line 2) has 4; row 3 (line 4) has 4" in err


def test_a_row_with_an_extra_value_that_is_not_empty_is_refused(tmp_path):
    code, err, _ = cohort(tmp_path, "subject,fever\nP-1,no,yes\nP-2,no,yes\n")
    assert code == 2 and "row 1 (line 2) has 3" in err


def test_many_bad_rows_are_counted_and_the_first_five_named(tmp_path):
    rows = "".join(f"P-{i},no\n" if i % 2 else f"P-{i},no,x,y\n" for i in range(100))
    code, err, _ = cohort(tmp_path, "subject,fever,saddle_numbness\n" + rows)
    assert code == 2
    assert "100 of 100 row(s)" in err and "and 95 more row(s)" in err


def test_quoted_commas_and_newlines_are_one_field(tmp_path):
    text = 'subject,fever,clinic\nP-1,yes,"North, ward 3\nsecond line"\n'
    code, err, out = cohort(tmp_path, text, "--keep", "clinic")
    assert code == 0, err
    assert out["clinic"][0] == "North, ward 3\nsecond line"


def test_blank_lines_are_skipped_as_pandas_skips_them(tmp_path):
    code, err, out = cohort(tmp_path, "subject,fever\n\nP-1,yes\n\n\nP-2,no\n")
    assert code == 0, err
    assert list(out["subject"]) == ["P-1", "P-2"]


def test_duplicated_header_names_are_refused_before_pandas_renames_them(tmp_path):
    code, err, _ = cohort(tmp_path, "fever,fever\nyes,no\n")
    assert code == 2 and "duplicated column(s): 'fever'" in err


def test_read_export_checks_the_shape_too():
    """The notebooks read exports with read_export: the same check, the same refusal."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.csv"
        path.write_text("subject,saddle_numbness\nP-1,yes,\nP-2,yes,\n")
        frame = read_export(str(path))
        assert list(frame.columns) == ["subject", "saddle_numbness"]
        assert list(frame["saddle_numbness"]) == ["yes", "yes"]
        path.write_text("subject,saddle_numbness\nP-1\n")
        with pytest.raises(CohortError, match="row 1 .line 2. has 1"):
            read_export(str(path))


def test_check_shape_reports_columns_rows_and_a_dropped_trailing_field(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2,\n3,4,\n")
    assert (check_shape(str(path)).columns, check_shape(str(path)).rows) == (2, 2)
    assert check_shape(str(path)).trailing
    path.write_text("a,b\n1,2\n")
    assert not check_shape(str(path)).trailing


# -- encoding and size -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        ("subject,fever\nP-1,yes\n".encode("utf-16"), "the file is UTF-16 text"),
        (b"subject,fever\nP-1,caf\xe9\n", "not UTF-8 text (byte 0xE9 on line 2, byte 21)"),
    ],
)
def test_an_export_that_is_not_utf8_exits_2_with_where(tmp_path, data, message):
    code, err, out = cohort(tmp_path, data)
    assert code == 2 and out is None
    assert message in err and "save the export as UTF-8 CSV" in err


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    code, err, out = cohort(tmp_path, "\ufeffsubject,saddle_numbness\nP-1,yes\n".encode("utf-8"))
    assert code == 0, err
    assert list(out.columns[:2]) == ["subject", "saddle_numbness"]
    assert out["urgency"][0] == "emergency"


def test_a_huge_line_is_refused_before_pandas_reads_it(tmp_path):
    """Reproduction: one 200 MB cell took 2.9 GB. A line over MAX_LINE_CHARS is refused while
    reading it in pieces of that size (so memory stays near MAX_LINE_CHARS)."""
    code, err, out = cohort(tmp_path, "subject,fever\nP-1," + "y" * (3 * MAX_LINE_CHARS) + "\n")
    assert code == 2 and out is None
    assert "line 2 is longer than 1,048,576 characters" in err
    assert len(err) < 400


def test_a_huge_quoted_cell_over_many_lines_is_refused_by_the_field_limit(tmp_path):
    cell = ("z" * 1000 + "\n") * 200  # each line short, the cell 200 kB
    code, err, out = cohort(tmp_path, f'subject,fever\nP-1,"{cell}"\n')
    assert code == 2 and out is None
    assert "not a readable CSV file" in err and "field larger than field limit" in err


def test_a_long_bad_cell_is_shown_in_at_most_80_characters(tmp_path):
    code, err, out = cohort(tmp_path, "subject,fever\nP-1," + "n" * 50_000 + "\n")
    assert code == 0, err
    message = out["error"][0]
    assert message.startswith("fever: unknown option 'nnn")
    assert message.count("n") <= 80 + 10 and "50,000 characters" in message


def test_the_output_is_never_the_input(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("subject,fever\nP-1,yes\n")
    before = source.read_bytes()
    assert cli.main(["cohort", str(source), str(source)]) == 2
    assert source.read_bytes() == before
    with pytest.raises(CohortError, match="is the input file"):
        triage_csv(str(source), str(tmp_path / "." / "in.csv"))


# -- what the output may carry -----------------------------------------------------------------

FORMULA = "=cmd|' /C calc'!A0"


def test_formulas_in_kept_and_answer_columns_are_neutralised_as_log_export_does(tmp_path):
    """Reproduction: a formula came out verbatim where `log export` prefixes "'"."""
    text = f"subject,clinic,fever\nP-1,{FORMULA},yes\nP-2,north,+1+2\nP-3,@SUM(A1),no\n"
    code, err, out = cohort(tmp_path, text, "--keep", "clinic")
    assert code == 0, err
    assert list(out["clinic"]) == ["'" + FORMULA, "north", "'@SUM(A1)"]
    assert out["fever"][1] == "'+1+2" and out["urgency"][1] == "error"
    assert list(out["fever"][[0, 2]]) == ["yes", "no"]  # valid answers untouched


def test_csv_ready_matches_the_log_export_rule_cell_for_cell():
    from aid.store import neutralise_formula

    cells = [FORMULA, "+1", "-1", "@x", "\tx", "\rx", "ok", "", "a=b"]
    frame = pd.DataFrame({"clinic": cells, "cat": pd.Categorical(cells)})
    ready = csv_ready(frame)
    expected = [neutralise_formula(c) for c in cells]
    assert list(ready["clinic"]) == expected and list(ready["cat"]) == expected
    assert list(frame["clinic"]) == cells  # the input frame is not changed


@pytest.mark.parametrize("subject", ["john@example.com", "John Smith", "=cmd", "P 1", "ä" * 3])
def test_subjects_the_log_would_refuse_are_refused_without_echoing_them(tmp_path, subject):
    """Reproduction: the cohort output carried e-mail addresses as subjects."""
    code, err, out = cohort(tmp_path, f"subject,fever\nP-1,no\n{subject},yes\n")
    assert code == 2 and out is None
    assert "row(s) 2 " in err and "pseudonymous id" in err
    assert subject not in err


def test_subject_rows_are_numbered_across_chunks(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("subject,fever\n" + "".join(f"P-{i},no\n" for i in range(30)) + "a@b,no\n")
    with pytest.raises(CohortError, match=r"row\(s\) 31 "):
        triage_csv(str(source), str(tmp_path / "out.csv"), chunk_rows=7)
    assert not (tmp_path / "out.csv").exists()


def test_pseudonymous_numeric_and_empty_subjects_are_accepted():
    frame = pd.DataFrame({"subject": ["P-0042", " P-1 ", "", None, "a_b-9"], "fever": ["no"] * 5})
    assert len(triage_frame(frame)) == 5
    assert len(triage_frame(pd.DataFrame({"subject": [1, 2], "fever": ["no", "no"]}))) == 2
    assert (
        len(triage_frame(pd.DataFrame({"subject": [1.0, float("nan")], "fever": ["no"] * 2}))) == 2
    )
    with pytest.raises(CohortError):
        triage_frame(pd.DataFrame({"subject": [1.5], "fever": ["no"]}))
