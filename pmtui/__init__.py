"""pmtui: a terminal dashboard for Binance Portfolio Margin accounts."""

__version__ = "0.1.0"
