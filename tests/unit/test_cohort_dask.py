"""The dask cohort path (issue 13, item 5) gives what the pandas path gives, row for row.

Real dask, real files: a synthetic export with planted bad cells and hand-written rows (errors,
``;``-joined and list-valued multi-choice cells, formulas, a kept column) is cut into many
partitions by a small block size, and the dask result must equal ``triage_frame`` on the whole
file exactly (values, dtypes, categories, error messages). The command line is run with both
engines and must write the same bytes, and the pandas path's input checks (issue 12) must hold
under ``--engine dask`` too.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import dask
import dask.dataframe as dd
import pandas as pd
import pytest

import aid.cohort_dask as cohort_dask
from aid import __main__ as cli
from aid.cohort import OUTPUT_COLUMNS, CohortError, read_export, synthetic_frame, triage_frame
from aid.cohort_dask import read_export_dask, triage_csv_dask

#: Bytes per partition in these tests: a 2,000-row file becomes dozens of partitions.
SMALL_BLOCKS = 20_000

FORMULA = "=cmd|' /C calc'!A0"


def export_with_hard_rows(path, n: int = 2000) -> pd.DataFrame:
    """A seeded synthetic export plus rows the pandas path treats specially, written to path."""
    frame = synthetic_frame(n, seed=13, bad_fraction=0.02)
    frame.insert(1, "clinic", "north")
    hard = frame.iloc[:6].copy()
    hard["subject"] = [f"H-{i}" for i in range(6)]
    hard.loc[hard.index[0], "location"] = " lower_back ;upper_back "  # padded ';' cell: valid
    hard.loc[hard.index[1], "location"] = "lower_back;nowhere"  # one bad option of two: error
    hard.loc[hard.index[2], "saddle_numbness"] = "yes"  # emergency
    hard.loc[hard.index[3], "fever"] = "Yes"  # case matters: error
    hard.loc[hard.index[4], "clinic"] = FORMULA  # kept, neutralised on output
    hard.loc[hard.index[5], "age"] = "NA"  # text, not "unanswered": error
    rows = [frame.iloc[: n // 2], hard, frame.iloc[n // 2 :]]
    pd.concat(rows, ignore_index=True).to_csv(path, index=False)
    return frame


def test_the_dask_path_equals_the_pandas_path_on_a_multi_partition_file(tmp_path):
    path = str(tmp_path / "export.csv")
    export_with_hard_rows(path)
    expected = triage_frame(read_export(path), keep=["clinic"])

    ddf = read_export_dask(path, blocksize=SMALL_BLOCKS)
    assert ddf.npartitions >= 10
    got = cohort_dask.triage_dask(ddf, keep=["clinic"]).compute().reset_index(drop=True)

    pd.testing.assert_frame_equal(got, expected)  # values, dtypes and category order
    # The comparison covered what it should: error rows, emergencies, multi cells.
    errors = expected[expected["urgency"] == "error"]
    assert len(errors) > 20 and errors["error"].astype(str).str.len().gt(0).all()
    messages = errors["error"].astype(str)
    assert messages.str.startswith("location: unknown option 'nowhere'; allowed:").sum() == 1
    assert (expected["urgency"] == "emergency").sum() > 0
    assert expected["location"].str.contains(";").sum() > 50
    assert tuple(got.columns[-len(OUTPUT_COLUMNS) :]) == OUTPUT_COLUMNS


def test_triage_dask_on_a_frame_with_list_cells_and_python_values():
    """Frames built in Python (not read from CSV) hold lists and numbers: same rows as pandas."""
    frame = pd.DataFrame(
        {
            "subject": [f"P-{i}" for i in range(8)],
            "location": [
                ["lower_back"],
                "lower_back; upper_back",
                ["bogus"],
                None,
                ("upper_back", "lower_back"),
                "",
                ["none", "lower_back"],
                "lower_back",
            ],
            "fever": ["yes", True, "Yes", None, "no", "", False, "no"],
            "age": [30, 40.0, "x", None, 200, 50, 61, 18],
        }
    )
    expected = triage_frame(frame)
    with dask.config.set({"dataframe.convert-string": False}):  # keep the input's own dtypes
        ddf = dd.from_pandas(frame, npartitions=4)
    got = cohort_dask.triage_dask(ddf).compute()
    pd.testing.assert_frame_equal(got, expected)
    assert (expected["urgency"] == "error").sum() == 3


def test_the_lazy_re_export_and_column_errors_before_any_computation():
    import aid.cohort

    assert aid.cohort.triage_dask is cohort_dask.triage_dask
    ddf = dd.from_pandas(pd.DataFrame({"bladder_troubel": ["yes"]}), npartitions=1)
    with pytest.raises(CohortError, match="did you mean 'bladder_trouble'"):
        aid.cohort.triage_dask(ddf)


def test_importing_aid_and_aid_cohort_does_not_import_dask():
    code = "import sys, aid, aid.cohort, aid.__main__; print('dask' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_without_dask_the_engine_says_how_to_install_it(tmp_path):
    """dask is an extra: a plain install gets a clear message, exit 2, no traceback."""
    source = tmp_path / "in.csv"
    source.write_text("subject,fever\nP-1,no\n")
    code = (
        "import sys; sys.modules['dask'] = None; from aid.__main__ import main; "
        f"sys.exit(main(['cohort', {str(source)!r}, {str(tmp_path / 'out.csv')!r}, "
        "'--engine', 'dask']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "pip install 'back-cramp-aid[dask]'" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.csv").exists()


# -- the command line ------------------------------------------------------------------------


def run_cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, err.getvalue()


@pytest.fixture
def small_blocks(monkeypatch):
    """Many partitions even for small files (the CLI's default is 16 MB per partition)."""
    monkeypatch.setattr(cohort_dask, "BLOCKSIZE", SMALL_BLOCKS)


def test_the_cli_writes_the_same_bytes_with_both_engines_and_draws_a_progress_bar(
    tmp_path, small_blocks, monkeypatch
):
    source = tmp_path / "in.csv"
    export_with_hard_rows(source)
    monkeypatch.setattr(cohort_dask, "PROGRESS_MIN_ROWS", 100)
    code_p, err_p = run_cli("cohort", str(source), str(tmp_path / "p.csv"), "--keep", "clinic")
    code_d, err_d = run_cli(
        "cohort", str(source), str(tmp_path / "d.csv"), "--keep", "clinic", "--engine", "dask"
    )
    assert code_p == code_d == 0, err_d
    assert (tmp_path / "d.csv").read_bytes() == (tmp_path / "p.csv").read_bytes()
    out = read_export(str(tmp_path / "d.csv"))
    assert len(out) == 2006 and "'" + FORMULA in set(out["clinic"])
    summary = [line for line in err_d.splitlines() if line.startswith(("wrote", "warning"))]
    assert summary and summary == [
        line.replace("p.csv", "d.csv")
        for line in err_p.splitlines()
        if line.startswith(("wrote", "warning"))
    ]
    assert "triaging [" in err_d and "100% 2,006/2,006 rows" in err_d
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "in.csv", "p.csv"]


def dask_cohort(tmp_path, text: str | bytes, *args: str) -> tuple[int, str, pd.DataFrame | None]:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    if isinstance(text, bytes):
        source.write_bytes(text)
    else:
        source.write_text(text, encoding="utf-8")
    code, err = run_cli("cohort", str(source), str(target), "--engine", "dask", *args)
    return code, err, read_export(str(target)) if target.exists() else None


ROWS = "".join(f"P-{i},no,no\n" for i in range(300))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("subject,fever,saddle_numbness\n" + ROWS + "P-x,no\n", "row 301 (line 302) has 2"),
        ("subject,fever,bladder_troubel\n" + ROWS, "did you mean 'bladder_trouble'"),
        (b"subject,fever\nP-1,caf\xe9\n", "not UTF-8 text (byte 0xE9 on line 2"),
        ("subject,fever,saddle_numbness\n" + ROWS + "a@b.org,no,no\n", r"row(s) 301 "),
        ("subject,fever,clinic\n" + ROWS + 'P-1,no,"a\nb"\n', "a cell on line 302 holds"),
        ("\nsubject,fever,saddle_numbness\n" + ROWS, "line 1 before the header is blank"),
    ],
    ids=["ragged", "unknown-column", "not-utf8", "subject-row", "line-break", "blank-first"],
)
def test_the_input_checks_hold_under_the_dask_engine(tmp_path, small_blocks, text, message):
    """Nothing is written and the message names the place, with rows numbered in the file."""
    code, err, out = dask_cohort(tmp_path, text, "--keep", "clinic")
    assert code == 2 and out is None
    assert message in err, err
    assert "a@b.org" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_subject_rows_are_numbered_in_the_file_across_partitions_and_batches(tmp_path):
    """The failing row lies several partitions in: the message counts rows in the file."""
    source = tmp_path / "in.csv"
    rows = [f"P-{i},no\n" for i in range(1, 601)]
    rows[449] = "John Smith,no\n"
    source.write_text("subject,fever\n" + "".join(rows))
    assert cohort_dask.read_export_dask(str(source), blocksize=500).npartitions >= 8
    with pytest.raises(CohortError, match=r"row\(s\) 450 \(not shown") as caught:
        triage_csv_dask(str(source), str(tmp_path / "out.csv"), blocksize=500, workers=2)
    assert "John" not in str(caught.value) and "partition" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_trailing_delimiter_bom_and_blank_lines_are_read_as_the_pandas_path_reads_them(
    tmp_path, small_blocks
):
    rows = "".join(f"P-{i},no,{'yes' if i % 97 == 0 else 'no'},\n\n" for i in range(400))
    text = "\ufeffsubject,fever,saddle_numbness\n" + rows
    code, err, out = dask_cohort(tmp_path, text.encode("utf-8"))
    assert code == 0, err
    assert list(out.columns[:3]) == ["subject", "fever", "saddle_numbness"]
    assert list(out["subject"]) == [f"P-{i}" for i in range(400)]
    assert (out["urgency"] == "emergency").sum() == 5


def test_the_output_is_never_the_input_under_dask(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("subject,fever\nP-1,yes\n")
    before = source.read_bytes()
    assert run_cli("cohort", str(source), str(source), "--engine", "dask")[0] == 2
    assert source.read_bytes() == before
    with pytest.raises(CohortError, match="is the input file"):
        triage_csv_dask(str(source), str(tmp_path / "." / "in.csv"))


def test_a_header_only_file_gives_the_header_with_the_result_columns(tmp_path):
    # Both engines write the header once (the pandas path once wrote it twice; fixed with this test).
    source = tmp_path / "in.csv"
    source.write_text("subject,fever\n")
    expected = ",".join(("subject", "fever", *OUTPUT_COLUMNS)) + "\n"
    for engine in ("dask", "pandas"):
        target = tmp_path / f"{engine}.csv"
        assert run_cli("cohort", str(source), str(target), "--engine", engine)[0] == 0
        assert target.read_text() == expected, engine
