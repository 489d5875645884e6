"""The usual database mistakes, each answered in one line that names the cause and the fix: on real
PostgreSQL where the mistake can be made here (this server trusts every local connection, so a wrong
password is classified from libpq's own message), in the log, the API and the page."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import quote

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from aurora.demo.simulation.server import SimulatedDiscord
from aurora.layouts import ids
from aurora.layouts.callbacks import OUTPUTS, refresh_values, render_page
from aurora.layouts.renders import rendered_once_per_view
from aurora.storage.engine import create_db_engine
from aurora.storage.problems import database_problem
from aurora.storage.tables import init_db
from aurora.web.context import context_of
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.postgres

ADMIN = make_url(POSTGRES_ADMIN_URL)
wait_for = SimulatedDiscord.wait_for


def failure_of(url: str, statement: str = "SELECT 1") -> DBAPIError:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    except DBAPIError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError(f"{statement} succeeded on {url}")


def problem_of(url, statement: str = "SELECT 1") -> str:
    return str(database_problem(failure_of(str(url), statement), make_url(str(url))))


def test_a_database_that_does_not_exist():
    url = ADMIN.set(database="aurora_no_such_db")
    assert problem_of(url.render_as_string(hide_password=False)) == (
        'database "aurora_no_such_db" does not exist on 127.0.0.1:5432; '
        "create it (`createdb aurora_no_such_db`) or correct the database name in DATABASE_URL"
    )


def test_a_role_that_does_not_exist():
    url = ADMIN.set(username="aurora_no_such_role")
    assert problem_of(url.render_as_string(hide_password=False)).startswith(
        'role "aurora_no_such_role" does not exist on 127.0.0.1:5432; create it (`createuser aurora_no_such_role`)'
    )


def test_no_such_host_and_nothing_listening():
    no_host = ADMIN.set(host="aurora-no-such-host.invalid")
    assert problem_of(no_host.render_as_string(hide_password=False)) == (
        'no such host "aurora-no-such-host.invalid"; the host name is wrong: correct it in DATABASE_URL'
    )
    closed_port = ADMIN.set(port=1)
    assert problem_of(closed_port.render_as_string(hide_password=False)).startswith(
        "nothing accepts connections at 127.0.0.1:1; start PostgreSQL there"
    )


def test_tables_missing(postgres_url):
    # The test's own schema, still empty: the bot's tables are not there.
    assert problem_of(postgres_url, "SELECT count(*) FROM transactions").startswith(
        "table transactions is missing; run `python app.py init-db` to create Aurora's tables, or point "
        "DATABASE_URL at the bot's database"
    )


@pytest.fixture
def role_without_rights(postgres_admin_engine):
    role = f"aurora_reader_{uuid.uuid4().hex[:8]}"
    with postgres_admin_engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    yield role
    with postgres_admin_engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))  # its grants
        conn.execute(text(f'DROP ROLE "{role}"'))


def test_postgresql_refusing_the_role(postgres_url, role_without_rights):
    owner = create_db_engine(postgres_url)
    init_db(owner)
    schema = make_url(postgres_url).query["options"].removeprefix("-csearch_path=")
    url = ADMIN.set(username=role_without_rights).render_as_string(hide_password=False)
    url += f"?options={quote(f'-csearch_path={schema}')}"
    # Without USAGE on the schema PostgreSQL skips it in the search path: the tables seem missing.
    assert problem_of(url, "SELECT count(*) FROM transactions").endswith("(PostgreSQL hides the tables of a schema "
                                                                         "the role has no USAGE on)")
    with owner.begin() as conn:
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role_without_rights}"'))
    owner.dispose()
    assert problem_of(url, "SELECT count(*) FROM transactions").startswith(
        f'PostgreSQL refuses role "{role_without_rights}": permission denied for table transactions; grant it USAGE'
    )


def test_a_wrong_password_from_libpqs_own_words_and_never_the_password():
    # libpq's message for a password the server rejects (this server trusts loopback: it asks for none).
    error = psycopg2.OperationalError(
        'connection to server at "db.internal" (10.0.0.5), port 5432 failed: FATAL:  password authentication '
        'failed for user "aurora"\n'
    )
    url = make_url("postgresql://aurora:s3cret-pass@db.internal:5432/aurora")
    assert str(database_problem(error, url)) == (
        'PostgreSQL rejected the password of user "aurora"; use that user\'s password: correct it in DATABASE_URL'
    )
    odd = psycopg2.OperationalError("server said: s3cret-pass is not welcome")
    assert "s3cret-pass" not in str(database_problem(odd, url))


@pytest.fixture
def missing_database_settings(settings):
    url = ADMIN.set(database=f"aurora_missing_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    return {"database_url": url, "refresh_seconds": 1}


def test_an_app_on_a_missing_database_says_why_in_the_log_the_api_and_the_page(
    make_app, missing_database_settings, clock, caplog
):
    name = make_url(missing_database_settings["database_url"]).database
    cause = f'database "{name}" does not exist on 127.0.0.1:5432; create it (`createdb {name}`)'
    with caplog.at_level(logging.INFO, logger="aurora"):
        app = make_app(**missing_database_settings)
        client = app.server.test_client()
        response = client.get("/api/stats")
        service = context_of(app).service
        for _ in range(3):  # further failed refreshes: no further lines
            clock.advance(minutes=5)
            wait_for(lambda refreshes=service.refresh_count: service.refresh_count > refreshes)
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith(f"database unavailable at startup: {cause}") for line in lines)
    assert len([line for line in lines if line.startswith("stats refresh failed")]) == 1
    assert not any("Traceback" in line or "OperationalError" in line for line in lines)

    assert response.status_code == 503
    message = response.get_json()["error"]["message"]
    assert message.startswith(f"statistics are not available: {cause}") and "failing since" in message

    with app.server.test_request_context("/"):
        values = refresh_values(rendered_once_per_view(render_page))
    by_id = dict(zip([(o.component_id, o.component_property) for o in OUTPUTS], values, strict=True))
    assert cause in by_id[(ids.STATUS_BANNER, "children")]
    assert by_id[(ids.ACTIVITY_CHART, "figure")].data == ()
    assert not any("Loading" in str(value) for value in values)
