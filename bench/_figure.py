"""One line per figure that ``bench/run_all.py`` (``make bench``) collects into its table:
``FIGURE<TAB>name<TAB>value<TAB>baseline<TAB>ratio<TAB>goal``. Each bench script prints its own detail too."""

from __future__ import annotations


def figure(name: str, value: str, baseline: str, ratio: float, goal: str) -> None:
    print("\t".join(["FIGURE", name, value, baseline, f"{ratio:.2f}", goal]), flush=True)
