"""Summarise several ``bench_verify.py --json`` runs: medians and the spread of the ratios.

On a shared machine one run can catch a burst of noise that moves a row by 40%; three runs
summarised this way show which figures are steady and which are not. For each row: the
median µs of each run, and the median, lowest and highest of its within-run ratio to raw.

Usage::

    for i in 1 2 3; do python benchmarks/bench_verify.py --json run$i.json; done
    python benchmarks/summarise_runs.py run1.json run2.json run3.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import typing as t


def summarise(runs: list[dict[str, t.Any]]) -> list[str]:
    """The summary as Markdown table lines."""
    lines = ["| row | alg | groups | median µs, each run | ratio to raw: median [lowest-highest] |",
             "|---|---|---:|---:|---:|"]
    for first in runs[0]["rows"]:
        key = (first["row"], first["alg"], first["groups"], first["cold"])
        rows = [row for run in runs for row in run["rows"]
                if (row["row"], row["alg"], row["groups"], row["cold"]) == key]
        ratios = [row["ratio"] for row in rows]
        name = first["row"]
        medians = " / ".join(f"{row['median_us']:.1f}" for row in rows)
        lines.append(f"| {name} | {first['alg']} | {first['groups']} | {medians} | "
                     f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}] |")
    return lines


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="JSON files written by bench_verify.py --json")
    args = parser.parse_args(argv)
    runs = []
    for path in args.runs:
        with open(path, encoding="utf-8") as f:
            runs.append(json.load(f))
    print(f"## bench_verify.py: {len(runs)} runs\n")
    print("\n".join(summarise(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
