"""The dashboard's guard (kinetic.cli.dashboard_guard): pure decisions on each request."""

from __future__ import annotations

from kinetic.cli.dashboard_guard import Guard, is_loopback, refusal

LOCAL = Guard("127.0.0.1", 8765, None)
REMOTE = Guard("0.0.0.0", 8765, "s3cret")
HOST = {"Host": "127.0.0.1:8765"}


def test_loopback_reads_need_a_loopback_host():
    assert refusal(LOCAL, "GET", HOST, {}) is None
    assert refusal(LOCAL, "GET", {"Host": "localhost:8765"}, {}) is None
    assert refusal(LOCAL, "GET", {"Host": "[::1]:8765"}, {}) is None
    assert refusal(LOCAL, "GET", {"Host": "evil.example:8765"}, {})[0] == 403


def test_posts_need_the_header_and_our_origin():
    assert refusal(LOCAL, "POST", HOST, {})[0] == 403
    ours = {**HOST, "X-Kinetic-Request": "1", "Origin": "http://127.0.0.1:8765"}
    assert refusal(LOCAL, "POST", ours, {}) is None
    assert refusal(LOCAL, "POST", {**ours, "Origin": "http://evil.example"}, {})[0] == 403
    assert refusal(LOCAL, "POST", {**ours, "Sec-Fetch-Site": "cross-site"}, {})[0] == 403


def test_off_loopback_the_token_is_required():
    host = {"Host": "10.0.0.5:8765"}
    assert refusal(REMOTE, "GET", host, {})[0] == 401
    assert refusal(REMOTE, "GET", host, {"token": "wrong"})[0] == 401
    assert refusal(REMOTE, "GET", host, {"token": "s3cret"}) is None
    assert refusal(REMOTE, "GET", {**host, "Authorization": "Bearer s3cret"}, {}) is None
    assert refusal(REMOTE, "GET", {**host, "X-Kinetic-Token": "s3cret"}, {}) is None
    # With the token a POST still needs the header.
    assert refusal(REMOTE, "POST", {**host, "X-Kinetic-Token": "s3cret"}, {})[0] == 403


def test_loopback_addresses():
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.5", "example.com", "::"))
