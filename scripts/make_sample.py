"""Write the synthetic clinic export shipped in ``data/samples/`` (seeded: same bytes every run).

Usage: ``python scripts/make_sample.py [--out data/samples/clinic_export.csv] [--rows 2000]``.
The rows are made by :func:`aid.cohort.synthetic_frame` from ``questions.csv`` (no real people);
``make notebooks`` runs this first so the sample always matches the current questionnaire.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aid.cohort import synthetic_frame

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "data" / "samples" / "clinic_export.csv"
SEED = 2026
ROWS = 2000
#: Share of rows with one invalid cell, so the audit shows how bad rows are reported.
BAD_FRACTION = 0.005


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    frame = synthetic_frame(args.rows, seed=SEED, bad_fraction=BAD_FRACTION)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False, lineterminator="\n")
    print(f"wrote {len(frame)} rows to {args.out}")


if __name__ == "__main__":
    main()
