"""`pmtui` (counted like bench/counted_pmtui.py) with its asset and position tables on the
DataTable-based KeyedTable of before issue 12 (bench/old_table.py): the baseline for the bytes a
refresh sends. The cells, columns and sorting are the current tables'; only the widget differs."""

from __future__ import annotations

import sys

import counted_pmtui  # noqa: F401  (counts the refreshes)
from old_table import KeyedTable as OldKeyedTable

import pmtui.tui.app
from pmtui.tui.widgets.assets import AssetsTable
from pmtui.tui.widgets.positions import PositionsTable


def _old(cls: type) -> type:
    names = ("COLUMNS", "DEFAULT_SORT", "TIE_COLUMN", "GROUP_BY_TIE", "cells", "show")
    return type(cls.__name__, (OldKeyedTable,), {n: cls.__dict__[n] for n in names if n in cls.__dict__})


pmtui.tui.app.PositionsTable = _old(PositionsTable)
pmtui.tui.app.AssetsTable = _old(AssetsTable)

if __name__ == "__main__":
    from pmtui.cli import main

    sys.exit(main(sys.argv[1:]))
