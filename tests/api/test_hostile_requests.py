"""What a client cannot do with odd requests: grow /metrics with label values of its choosing,
or have a redirect point at a host of its choosing."""

from __future__ import annotations

import random
import string
from urllib.parse import urlsplit

import pytest

from aurora.web.metrics import HTTP_METHODS, HTTP_REQUESTS, OTHER_METHOD, UNMATCHED_ROUTE

ACCESS_TOKEN = "a-long-enough-access-token"
HOSTILE_HOST = "evil.example"


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


def label_sets() -> set[tuple[str, str, str]]:
    return {
        (sample.labels["route"], sample.labels["method"], sample.labels["status"])
        for family in HTTP_REQUESTS.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def random_path(shuffle: random.Random) -> str:
    prefix = shuffle.choice(["/", "/api/", "/assets/", "/_dash-component-suites/dash/", "/_dash-", "/metrics/"])
    return prefix + "".join(shuffle.choices(string.ascii_letters + string.digits + "-._~", k=shuffle.randint(1, 40)))


@pytest.mark.parametrize("access_token", [None, ACCESS_TOKEN])
def test_random_methods_and_paths_add_a_bounded_number_of_label_sets(make_app, access_token):
    app = make_app(access_token=access_token, rate_limit=None)
    client = app.server.test_client()
    rules = {rule.rule for rule in app.server.url_map.iter_rules()}
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}"} if access_token else {}
    size_before = len(client.get("/metrics", headers=headers).data)
    before = label_sets()
    shuffle = random.Random(27)
    for number in range(2000):
        if number % 2:
            method = "".join(shuffle.choices(string.ascii_uppercase, k=12))  # an invented verb
        else:
            method = shuffle.choice(sorted(HTTP_METHODS))
        client.open(random_path(shuffle), method=method, headers=headers if number % 3 else {})
    size_after = len(client.get("/metrics", headers=headers).data)
    added = label_sets() - before
    print(f"\n/metrics after 2,000 random requests: {size_before:,} -> {size_after:,} bytes, "
          f"{len(added)} new label sets")

    assert {method for _, method, _ in added} <= HTTP_METHODS | {OTHER_METHOD}
    assert {route for route, _, _ in added} <= rules | {UNMATCHED_ROUTE}
    assert {status for _, _, status in added} <= {"200", "204", "304", "308", "400", "401", "404", "405", "415"}
    # Routes x methods x statuses that can actually occur: dozens, not thousands.
    assert len(added) <= 60
    assert size_after - size_before < 60_000


@pytest.mark.parametrize(
    "path",
    ["/api", "//_dash-layout", f"//{HOSTILE_HOST}//", f"//{HOSTILE_HOST}//api", "///api", "/api?next=//x"],
)
def test_redirects_never_name_the_requested_host(client, path):
    answer = client.get(path, headers={"Host": HOSTILE_HOST})
    assert answer.status_code == 308, (path, answer.status_code)
    location = answer.headers["Location"]
    # Relative: no scheme, no host, and no `//` start (which a browser reads as a host).
    assert urlsplit(location)[:2] == ("", "") and location.startswith("/") and not location.startswith("//")


def test_a_redirect_still_leads_to_the_right_place(client):
    answer = client.get("/api", headers={"Host": HOSTILE_HOST})
    assert answer.headers["Location"] == "/api/"
    assert client.get(answer.headers["Location"]).status_code == 404  # the API's own answer for /api/
