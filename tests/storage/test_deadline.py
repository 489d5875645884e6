"""The wait callback behind the deadlines on PostgreSQL calls (aurora.storage.deadline) is process-wide:
every psycopg2 connection in the process then connects through libpq's non-blocking calls, which
leave `connect_timeout` to the caller. A silent server (here a socket that accepts and answers
nothing) must still end every connect attempt at its `connect_timeout`."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import psycopg2
import pytest
from sqlalchemy import make_url

from aurora.storage.engine import CONNECT_TIMEOUT_SECONDS, create_db_engine

pytestmark = pytest.mark.postgres
MARGIN_SECONDS = 5  # far above the checks' 0.1 s slices: only a connect that is never ended fails


@pytest.fixture
def silent_port():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def failure_within(seconds: float, connect: Callable[[], object]) -> Exception:
    failures: list[Exception] = []

    def attempt() -> None:
        try:
            connect()
        except Exception as error:  # the failure is what is looked at
            failures.append(error)

    attempt_thread = threading.Thread(target=attempt, daemon=True)
    attempt_thread.start()
    attempt_thread.join(seconds)
    assert not attempt_thread.is_alive(), f"still connecting to a silent server after {seconds} s"
    [failure] = failures
    return failure


def test_the_init_db_engine_gives_up_on_a_silent_server_at_the_connect_timeout(postgres_url, silent_port):
    # init-db lifts the limit on silence to its DDL timeout (an hour by default): not for connecting.
    url = make_url(postgres_url).set(port=silent_port).render_as_string(hide_password=False)
    engine = create_db_engine(url, silence_seconds=3602)
    try:
        failure = failure_within(CONNECT_TIMEOUT_SECONDS + MARGIN_SECONDS, engine.connect)
    finally:
        engine.dispose()
    assert "timeout expired (connect_timeout 5 s)" in str(failure)


def test_other_connections_of_the_process_keep_their_connect_timeout(postgres_url, silent_port):
    create_db_engine(postgres_url).dispose()  # the wait callback is set from here on

    def plain_connect():
        return psycopg2.connect(host="127.0.0.1", port=silent_port, user="postgres", dbname="test", connect_timeout=2)

    failure = failure_within(2 + MARGIN_SECONDS, plain_connect)
    assert isinstance(failure, psycopg2.OperationalError)
    assert "timeout expired" in str(failure)
