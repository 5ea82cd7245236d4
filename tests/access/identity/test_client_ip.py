"""The client address rule, attacked: spoofed headers from untrusted peers, chains through
several proxies, and malformed values anywhere in them."""

from __future__ import annotations

import pytest

from access.errors import InvalidInput
from access.identity.client_ip import client_ip, parse_trusted_proxies

PROXIES = parse_trusted_proxies("10.0.0.0/8, 192.0.2.10 2001:db8::/32")
XFF = "X-Forwarded-For"


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() -> None:
    assert client_ip("203.0.113.7", {XFF: "198.51.100.1"}, ()) == "203.0.113.7"
    assert client_ip("127.0.0.1", {XFF: "198.51.100.1"}, ()) == "127.0.0.1"


def test_an_untrusted_peer_cannot_choose_its_address_with_the_header() -> None:
    spoofed = {XFF: "10.0.0.5", "x-forwarded-for": "198.51.100.1", "X-Real-IP": "1.1.1.1"}
    assert client_ip("203.0.113.7", spoofed, PROXIES) == "203.0.113.7"


def test_behind_a_trusted_proxy_the_right_most_entry_is_the_client() -> None:
    assert client_ip("10.1.2.3", {XFF: "198.51.100.1"}, PROXIES) == "198.51.100.1"


def test_a_client_prepending_addresses_gains_nothing() -> None:
    # The client sent "XFF: 6.6.6.6, 10.0.0.1"; the proxy appended the real peer.
    chain = {XFF: "6.6.6.6, 10.0.0.1, 198.51.100.1"}
    assert client_ip("10.1.2.3", chain, PROXIES) == "198.51.100.1"


def test_trusted_hops_are_skipped_from_the_right() -> None:
    chain = {XFF: "6.6.6.6, 198.51.100.1, 10.9.9.9, 192.0.2.10"}
    assert client_ip("10.1.2.3", chain, PROXIES) == "198.51.100.1"


def test_repeated_headers_form_one_chain_in_order() -> None:
    # As a console passes repeated headers: joined with commas, in the order received.
    assert client_ip("10.1.2.3", {XFF: "6.6.6.6,198.51.100.1"}, PROXIES) == "198.51.100.1"
    assert client_ip("10.1.2.3", {XFF: "198.51.100.1", "x-forwarded-for": "6.6.6.6"},
                     PROXIES) == "6.6.6.6"


def test_a_chain_of_only_trusted_hops_gives_the_left_most_hop() -> None:
    assert client_ip("10.1.2.3", {XFF: "10.0.0.7, 10.0.0.8"}, PROXIES) == "10.0.0.7"


def test_a_trusted_peer_without_the_header_is_the_client() -> None:
    assert client_ip("10.1.2.3", {}, PROXIES) == "10.1.2.3"
    assert client_ip("10.1.2.3", {XFF: ""}, PROXIES) == "10.1.2.3"


@pytest.mark.parametrize("garbage", [
    "not-an-ip", "198.51.100.1\r\nX-Evil: 1", "<script>", "999.1.1.1", "1" * 5000,
    "198.51.100.1 198.51.100.2", "unknown", "_hidden", ",,,",
])
def test_malformed_entries_fall_back_to_the_last_address_we_can_vouch_for(garbage: str) -> None:
    assert client_ip("10.1.2.3", {XFF: garbage}, PROXIES) == "10.1.2.3"
    assert client_ip("10.1.2.3", {XFF: f"198.51.100.1, {garbage}"}, PROXIES) == "10.1.2.3"
    assert client_ip("10.1.2.3", {XFF: f"{garbage}, 10.0.0.4"}, PROXIES) == "10.0.0.4"


def test_addresses_with_ports_and_brackets_and_mapped_ipv4_are_normalised() -> None:
    assert client_ip("10.1.2.3", {XFF: "198.51.100.1:4711"}, PROXIES) == "198.51.100.1"
    assert client_ip("10.1.2.3", {XFF: "[2001:db9::1]:443"}, PROXIES) == "2001:db9::1"
    assert client_ip("::ffff:10.1.2.3", {XFF: "198.51.100.1"}, PROXIES) == "198.51.100.1"
    assert client_ip("2001:db8::5", {XFF: "2001:DB9:0::1"}, PROXIES) == "2001:db9::1"


def test_an_unknown_or_malformed_peer_is_no_address() -> None:
    assert client_ip(None, {XFF: "198.51.100.1"}, PROXIES) is None
    assert client_ip("localhost", {XFF: "198.51.100.1"}, PROXIES) is None


def test_a_very_long_chain_is_read_only_so_far_from_the_right() -> None:
    chain = ", ".join(["198.51.100.1"] + ["10.0.0.1"] * 50)
    assert client_ip("10.1.2.3", {XFF: chain}, PROXIES) == "10.0.0.1"


def test_the_setting_names_a_bad_entry() -> None:
    assert parse_trusted_proxies(None) == parse_trusted_proxies("  ") == ()
    with pytest.raises(InvalidInput) as caught:
        parse_trusted_proxies("10.0.0.0/8, 10.0.0.0/33")
    assert caught.value.field == "GATEHOUSE_TRUSTED_PROXIES"
    assert "10.0.0.0/33" in caught.value.rule
