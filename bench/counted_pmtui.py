"""`pmtui` with a counter on the demo exchange: each `/papi/v2/um/account` request served (one
per refresh) is counted into the file named by BENCH_COUNT_FILE, so bench/idle.py can divide
the bytes it read by the refreshes that produced them. Nothing else changes."""

from __future__ import annotations

import os
import sys

from pmtui import demo

_fd = os.open(os.environ["BENCH_COUNT_FILE"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
_count = 0
_serve = demo.DemoExchange.handle_async_request


async def _counted(self, request):
    global _count
    if request.url.path == "/papi/v2/um/account":
        _count += 1
        os.pwrite(_fd, b"%12d" % _count, 0)
    return await _serve(self, request)


demo.DemoExchange.handle_async_request = _counted

if __name__ == "__main__":
    from pmtui.cli import main

    sys.exit(main(sys.argv[1:]))
