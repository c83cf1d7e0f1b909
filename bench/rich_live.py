"""The baseline for bench/term_bytes.py's cpu and bytes ratios: the positions pmtui shows, drawn
by a plain Rich Live script from the same demo data (the DemoExchange transport, the same client,
parsing and view), one redraw per fetch, every second. Counted like bench/counted_pmtui.py."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal

import counted_pmtui  # noqa: F401  (counts the refreshes served by the demo exchange)
from rich.console import Console
from rich.live import Live
from rich.table import Table

from pmtui import fmt
from pmtui.budget import WeightBudget
from pmtui.client import PapiClient
from pmtui.config import Thresholds
from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
from pmtui.signing import HmacSigner
from pmtui.views import build_view


def table(view) -> Table:
    t = Table(title=f"uniMMR {fmt.amount(view.unimmr) if view.unimmr else '—'}", expand=True)
    for name in ("Symbol", "Side", "Notional", "uPnL", "Liq%", "MM%", "Maint."):
        t.add_column(name, justify="left" if name in ("Symbol", "Side") else "right", no_wrap=True)
    for r in sorted(view.open_positions, key=lambda r: r.position.maintMargin, reverse=True):
        p = r.position
        # Decimal(0) is falsy: `or 0` handed an int to fmt.money, and the script died at a flat uPnL.
        pnl = p.unrealizedProfit if p.unrealizedProfit is not None else Decimal(0)
        t.add_row(p.symbol, "LONG" if p.is_long else "SHORT", fmt.money(abs(p.notional)),
                  f"[{'green' if pnl > 0 else 'red'}]{fmt.money(pnl, sign=True)}[/]",
                  fmt.percent(r.liq_distance), fmt.percent(r.share), fmt.money(p.maintMargin))
    return t


async def main(hedge: bool) -> None:
    client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET),
                        transport=DemoExchange(hedge=hedge))
    client.budget = WeightBudget(1.0, limit=10**9)
    console = Console()
    with Live(console=console, screen=True, auto_refresh=False) as live:
        while True:
            account = await client.um_account()
            risks = await client.position_risk()
            pm = await client.pm_account()
            live.update(table(build_view(account, Thresholds(), risks=risks, pm=pm)), refresh=True)
            await asyncio.sleep(1.0)


if __name__ == "__main__":
    asyncio.run(main("--hedge" in sys.argv))
