"""Settings models and the limits they enforce; no file, environment or TOML code here.

The loader that fills these models from a config file, the environment and command-line flags
is `pmtui.config`.
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://papi.binance.com"
#: PAPI has no time endpoint; the USD-M futures one shares Binance's clock.
DEFAULT_TIME_BASE_URL = "https://fapi.binance.com"

#: Seconds between UM account polls, at least and at most.
MIN_INTERVAL = 1.0
MAX_INTERVAL = 3600.0
#: Seconds between /papi/v1/account requests (weight 20), at least, whatever asks for one.
MIN_ACCOUNT_INTERVAL = 5.0
#: Binance's largest recvWindow, in milliseconds (one minute).
MAX_RECV_WINDOW = 60_000
