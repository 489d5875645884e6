"""The webhook sender against a fake Discord webhook on loopback: Discord's 429 waits honoured
(never retried sooner), 5xx and connection failures retried a bounded number of times with
back-off, other 4xx given up, and never the URL or its token in a log line. Its sleep moves a
test clock: nothing really waits."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from aurora.alerts.sender import WebhookSender
from tests.fakes.discord_webhook import MB, WEBHOOK_TOKEN, FakeWebhook, GarbledWebhook
from tests.support import FrozenClock

pytestmark = pytest.mark.clock

MESSAGE = {"embeds": [{"title": "Bot offline", "description": "The bot is reconnecting."}]}


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def webhook(clock):
    with FakeWebhook(clock=clock) as fake:
        yield fake


@pytest.fixture
def make_sender(clock):
    senders, sleeps = [], []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds=seconds)

    def build(url: str, **options) -> WebhookSender:
        sender = WebhookSender(url, sleep=sleep, **options)
        sender.start()
        senders.append(sender)
        return sender

    build.sleeps = sleeps
    yield build
    for sender in senders:
        sender.close()


def send(sender: WebhookSender, payload: dict = MESSAGE) -> None:
    assert sender.submit(payload)
    assert sender.drain(timeout=10)


def assert_nothing_secret(caplog, url: str) -> None:
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert WEBHOOK_TOKEN not in text and url not in text and "/api/webhooks/" not in text


@pytest.mark.parametrize("in_body", [False, True], ids=["Retry-After", "retry_after"])
def test_a_429_is_retried_after_the_wait_discord_asks_not_before(webhook, make_sender, caplog, in_body):
    caplog.set_level(logging.DEBUG)
    webhook.answer_next(429, retry_after=7.5, in_body=in_body)
    sender = make_sender(webhook.url)
    send(sender)
    first, second = webhook.posts
    assert make_sender.sleeps == [7.5]
    assert (second.at - first.at).total_seconds() >= 7.5
    assert second.body == first.body == MESSAGE and second.token == WEBHOOK_TOKEN
    assert sender.delivered == 1 and sender.dropped == 0
    assert_nothing_secret(caplog, webhook.url)


def test_5xx_is_retried_with_backoff_a_bounded_number_of_times(webhook, make_sender, caplog):
    caplog.set_level(logging.DEBUG)
    webhook.answer_next(503, times=5)
    sender = make_sender(webhook.url)
    send(sender)
    assert len(webhook.posts) == 5
    assert make_sender.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert sender.dropped == 1 and "message dropped after 5 attempts" in caplog.text
    webhook.answer_next(500)  # one failure, then through: the worker carries on
    send(sender)
    assert len(webhook.posts) == 7 and sender.delivered == 1
    assert_nothing_secret(caplog, webhook.url)


def test_other_4xx_is_given_up_at_once(webhook, make_sender, caplog):
    webhook.answer_next(404)
    sender = make_sender(webhook.url)
    send(sender)
    assert len(webhook.posts) == 1 and make_sender.sleeps == [] and sender.dropped == 1
    assert "alert webhook answered 404; message dropped" in caplog.text


def test_an_unreachable_webhook_is_retried_then_dropped(make_sender, caplog):
    caplog.set_level(logging.DEBUG)
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/webhooks/1/{WEBHOOK_TOKEN}"
    sender = make_sender(url)
    send(sender)
    assert make_sender.sleeps == [1.0, 2.0, 4.0, 8.0] and sender.dropped == 1
    assert_nothing_secret(caplog, url)


def test_a_full_queue_drops_instead_of_blocking(caplog):
    sender = WebhookSender("http://127.0.0.1:9/api/webhooks/1/t", queue_size=2)  # not started: nothing drains
    assert sender.submit(MESSAGE) and sender.submit(MESSAGE)
    assert not sender.submit(MESSAGE) and sender.dropped == 1
    assert "alert webhook queue full" in caplog.text


@pytest.mark.parametrize(
    "answer",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\ncut short",
        b"",
    ],
    ids=["bad-status-line", "incomplete-read", "remote-disconnected"],
)
def test_a_garbled_answer_is_retried_like_a_connection_failure(make_sender, caplog, answer):
    with GarbledWebhook(answer, times=2) as webhook:
        sender = make_sender(webhook.url)
        send(sender)
    assert webhook.posts == 3 and make_sender.sleeps == [1.0, 2.0]
    assert sender.delivered == 1 and sender.dropped == 0
    assert_nothing_secret(caplog, webhook.url)


def test_closing_delivers_what_is_queued_once_each_without_retries(webhook, clock):
    sender = WebhookSender(webhook.url, sleep=lambda seconds: clock.advance(seconds=seconds))
    resolved = {"embeds": [{"title": "Bot back online", "description": "Resolved."}]}
    webhook.answer_next(503)  # the first message fails once: no retry while closing
    for payload in (MESSAGE, MESSAGE, resolved):
        assert sender.submit(payload)
    sender.start()
    sender.close()
    assert len(webhook.posts) == 3 and webhook.titles()[-1] == "Bot back online"
    assert sender.delivered == 2 and sender.dropped == 1


def test_drops_counted_from_many_threads_at_once_are_all_counted():
    sender = WebhookSender("http://127.0.0.1:9/api/webhooks/1/t", queue_size=1)  # not started: stays full
    assert sender.submit(MESSAGE)
    threads = [
        threading.Thread(target=lambda: [sender.submit(MESSAGE) for _ in range(500)]) for _ in range(8)
    ]
    logging.disable(logging.WARNING)  # 4000 identical warnings say nothing here
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        logging.disable(logging.NOTSET)
    assert sender.dropped == 8 * 500


def test_an_answer_trickled_a_byte_at_a_time_is_cut_off_at_each_attempts_deadline(make_sender, caplog):
    """A byte every 0.1 s never trips a per-read timeout; the attempt's own deadline (0.5 s here,
    5 s by default) ends it. Trickled whole, each answer would take 2.7 s."""
    answer = b"HTTP/1.1 204 No Content\r\n\r\n"
    with GarbledWebhook(answer, times=5, byte_seconds=0.1) as webhook:
        sender = make_sender(webhook.url, attempt_seconds=0.5)
        started = time.monotonic()
        send(sender)
        took = time.monotonic() - started
    assert webhook.posts == 5 and sender.delivered == 0 and sender.dropped == 1
    assert took < 5 * 2.7, took  # five whole trickles would take 13.5 s
    assert "alert webhook answered nothing usable; retrying in 1.0 s (attempt 1 of 5)" in caplog.text
    assert "alert webhook: message dropped after 5 attempts" in caplog.text


def test_a_redirect_is_a_failure_not_followed(webhook, make_sender, caplog):
    webhook.answer_next(302, location="/moved")
    sender = make_sender(webhook.url)
    send(sender)
    assert len(webhook.posts) == 1 and webhook.gets == 0  # never a bodiless GET elsewhere
    assert sender.delivered == 0 and sender.dropped == 1
    assert "alert webhook answered 302 (a redirect: the URL must be the webhook itself); message dropped" in caplog.text
    assert_nothing_secret(caplog, webhook.url)


@pytest.mark.parametrize("status", [500, 429])
def test_a_flood_of_an_error_body_is_not_read(webhook, make_sender, status):
    webhook.answer_next(status, flood_bytes=50 * MB)
    sender = make_sender(webhook.url)
    send(sender)
    assert len(webhook.posts) == 2 and sender.delivered == 1
    # What the socket buffers took before the client closed; far from the 50 MB offered.
    assert webhook.flood_sent < 16 * MB, webhook.flood_sent
    assert make_sender.sleeps == [1.0]  # a 429 without a readable wait backs off like a failure
