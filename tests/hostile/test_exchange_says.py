"""What the exchange says, said right (issue 19): a 451 "restricted location", a CloudFront page
blocking the country, and the IP a -2015 names. Each against tests/support/hostile_server.py with the
real bodies from tests/fixtures/real/errors."""

from __future__ import annotations

import pytest

from pmtui.errors import AuthError, RegionBlocked, WafBlocked
from pmtui.poller import Poller
from tests.core.test_real_payloads import REAL
from tests.hostile.test_hostile import bounded, client_for
from tests.support.hostile_server import Conn, HostileServer, head
from tests.support.papi_server import UM_ACCOUNT
from tests.support.sentences import assert_sentence

RESTRICTED = (REAL / "errors" / "restricted_location_451.body").read_bytes()
CLOUDFRONT_COUNTRY = (REAL / "errors" / "cloudfront_403_country.html").read_bytes()
# CloudFront's page when its WAF blocks a request (tests/support/papi_server.py's WAF page has no cause).
CLOUDFRONT_WAF = CLOUDFRONT_COUNTRY.replace(
    b"The Amazon CloudFront distribution is configured to block access from your country.", b"Request blocked.")


def raw(status: int, data: bytes, content_type: str = "application/json"):
    def route(conn: Conn) -> None:
        conn.send(head(status, length=len(data), headers={"Content-Type": content_type}).replace(
            b"Content-Type: application/json\r\n", b"", 1) + data)
    return route


async def poll_twice(server: HostileServer) -> tuple[Poller, int]:
    """A poller over the UM account: one poll, then what the poller would do next."""
    async with client_for(server) as client:
        poller = Poller(fetch=client.um_account, interval=1.0)
        assert await bounded(poller.poll) is False
        return poller, server.paths().count(UM_ACCOUNT)


async def test_451_restricted_location_says_so_and_stops(hostile):
    hostile.route(UM_ACCOUNT, raw(451, RESTRICTED))
    poller, sent = await poll_twice(hostile)
    err = poller.error
    assert type(err) is RegionBlocked, err
    assert err.message.startswith("Binance refuses requests from this location (HTTP 451): "), err.message
    # Binance's own words, as data (quoted), and what to do.
    assert "Service unavailable from a restricted location according to 'b. Eligibility'" in err.message
    assert "answered" not in err.message and "press r" in err.message
    assert_sentence(err.message)
    # Stop-and-tell: no retry loop until a person presses r.
    assert poller.stopped and poller.delay() is None and sent == 1
    poller.reset_stop()
    assert poller.delay() is not None


async def test_451_without_a_body_is_still_the_location(hostile):
    hostile.route(UM_ACCOUNT, raw(451, b""))
    poller, _ = await poll_twice(hostile)
    assert type(poller.error) is RegionBlocked and poller.stopped
    assert_sentence(poller.error.message)


async def test_a_cloudfront_country_block_names_its_cause(hostile):
    hostile.route(UM_ACCOUNT, raw(403, CLOUDFRONT_COUNTRY, "text/html"))
    poller, _ = await poll_twice(hostile)
    err = poller.error
    assert type(err) is RegionBlocked, err
    assert "Binance's CDN blocks access from this country" in err.message
    assert "firewall" not in err.message and "passes after a while" not in err.message
    assert poller.stopped
    assert_sentence(err.message)


async def test_a_403_without_a_cause_is_still_the_waf(hostile):
    hostile.route(UM_ACCOUNT, raw(403, CLOUDFRONT_WAF, "text/html"))
    poller, _ = await poll_twice(hostile)
    assert type(poller.error) is WafBlocked and not poller.stopped


@pytest.mark.parametrize("ip", ["203.0.113.7", "2001:db8::1"])
async def test_2015_shows_the_ip_to_whitelist(hostile, ip):
    msg = f"Invalid API-key, IP, or permissions for action, request ip: {ip}"
    hostile.route(UM_ACCOUNT, lambda c: c.reply(401, {"code": -2015, "msg": msg}))
    poller, _ = await poll_twice(hostile)
    err = poller.error
    assert type(err) is AuthError and err.code == -2015
    assert ip in err.message and "whitelist" in err.message
    assert_sentence(err.message)


async def test_2015_with_no_address_keeps_the_general_help(hostile):
    msg = "Invalid API-key, IP, or permissions for action, request ip: <script>"
    hostile.route(UM_ACCOUNT, lambda c: c.reply(401, {"code": -2015, "msg": msg}))
    poller, _ = await poll_twice(hostile)
    assert "this machine's IP" in poller.error.message and "script" not in poller.error.message
