"""A database failure as one line: what went wrong and what to do about it.

The usual mistakes (a database, role or host that does not exist, a wrong password, nothing
listening, tables missing, a role without the rights) are told apart by the server's SQLSTATE where
it sends one, and by libpq's message where it cannot (errors while connecting carry no SQLSTATE in
psycopg2). The server's own words are kept where they name the thing; a password never appears.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

UNDEFINED_TABLE = "42P01"
INSUFFICIENT_PRIVILEGE = "42501"
QUERY_CANCELED = "57014"
CHECK_URL = "correct it in DATABASE_URL"


@dataclass(frozen=True)
class DatabaseProblem:
    cause: str
    fix: str

    def __str__(self) -> str:
        return f"{self.cause}; {self.fix}"


def _where(url: URL | None) -> str:
    if url is None or url.get_backend_name() == "sqlite":
        return "the database"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _role(url: URL | None) -> str:
    return (url.username if url is not None else None) or "this role"


def _by_sqlstate(code: str | None, message: str, url: URL | None) -> DatabaseProblem | None:
    if code == UNDEFINED_TABLE or message.startswith("no such table"):
        table = re.search(r'relation "([^"]+)"|no such table: (\S+)', message)
        name = next((group for group in table.groups() if group), "a table") if table else "a table"
        return DatabaseProblem(
            f"table {name} is missing",
            "run `python app.py init-db` to create Aurora's tables, or point DATABASE_URL at the bot's database "
            "(PostgreSQL hides the tables of a schema the role has no USAGE on)",
        )
    if code == INSUFFICIENT_PRIVILEGE:
        detail = re.search(r"permission denied for \w+ \S+", message)
        return DatabaseProblem(
            f'PostgreSQL refuses role "{_role(url)}": {detail.group(0) if detail else "permission denied"}',
            "grant it USAGE on the schema, SELECT on users, transactions and moderation_cases and INSERT on "
            "transactions, or use the bot's own role in DATABASE_URL",
        )
    if code == QUERY_CANCELED:
        return DatabaseProblem(
            "a query ran into the statement timeout",
            "run `python app.py init-db --check` to find the indexes that would make it fast",
        )
    return None


# libpq's messages while connecting, most specific first: (pattern, cause, fix); {0} is the name found.
CONNECT_MESSAGES = (
    (r'database "([^"]+)" does not exist', 'database "{0}" does not exist on {where}',
     "create it (`createdb {0}`) or correct the database name in DATABASE_URL"),
    (r'password authentication failed for user "([^"]+)"', 'PostgreSQL rejected the password of user "{0}"',
     f"use that user's password: {CHECK_URL}"),
    (r'role "([^"]+)" does not exist', 'role "{0}" does not exist on {where}',
     f"create it (`createuser {{0}}`) or use an existing user: {CHECK_URL}"),
    (r"no pg_hba\.conf entry for host \"([^\"]+)\"", "PostgreSQL on {where} accepts no connection from {0} "
     "for this user (pg_hba.conf)", "add a pg_hba.conf line for it, or connect as a user it allows"),
    (r'could not translate host name "([^"]+)"', 'no such host "{0}"', f"the host name is wrong: {CHECK_URL}"),
    (r"Connection refused", "nothing accepts connections at {where}",
     f"start PostgreSQL there, or the host or port is wrong: {CHECK_URL}"),
    (r"timeout expired", "{where} did not answer within the connect timeout",
     "check that the host is up and that no firewall drops the connection"),
    (r"unable to open database file", "the SQLite file cannot be opened",
     "its folder must exist and be writable by this process"),
)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def database_problem(error: BaseException, url: URL | str | None = None) -> DatabaseProblem:
    """What went wrong with the database behind `error` (a SQLAlchemy or DBAPI error), and the fix."""
    url = make_url(url) if isinstance(url, str) else url
    orig = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    message = str(orig)
    if url is not None and url.password:
        message = message.replace(str(url.password), "***")
    problem = _by_sqlstate(getattr(orig, "pgcode", None), message, url)
    if problem is not None:
        return problem
    for pattern, cause, fix in CONNECT_MESSAGES:
        found = re.search(pattern, message)
        if found:
            names = found.groups()
            return DatabaseProblem(cause.format(*names, where=_where(url)), fix.format(*names))
    detail = _first_line(message).removeprefix("FATAL:").strip()
    return DatabaseProblem(
        f"{orig.__class__.__name__}: {detail}" if detail else orig.__class__.__name__,
        "check DATABASE_URL and the database server's log",
    )
