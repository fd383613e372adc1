"""The Test button's REST call (POST /api/v2/connections/test) on OAuth2 connections, in a real api-server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.deployment.site import Site
from tests.support import OAUTH, lips_oauth_connection, oauth_sandbox_settings

pytestmark = pytest.mark.deployment


def form(site: Site, connection_id: str, **fields: object) -> dict[str, Any]:
    """What the connection form posts for an OAuth2 connection to the sandbox (host and port apart)."""
    conn = json.loads(lips_oauth_connection(site.sandbox.url, **fields))
    host, port = site.sandbox.url.rsplit(":", 1)
    return {
        "connection_id": connection_id,
        "conn_type": "lips",
        "host": host,
        "port": int(port),
        "login": conn["login"],
        "password": conn["password"],
        "extra": json.dumps(conn["extra"]),
    }


def test_the_test_button_obtains_a_token_and_names_a_rejected_client(site: Site) -> None:
    site.sandbox.configure(**oauth_sandbox_settings())
    try:
        client = site.airflow.client
        good = client.post("/connections/test", form(site, "lips_oauth"))
        bad = client.post("/connections/test", form(site, "lips_oauth_bad", client_secret="csecret-WRONG-3e1b"))
        wrong_user = client.post("/connections/test", form(site, "lips_oauth_user", password="pw-WRONG-0c4d"))
        grants = [(e["grant_type"], e["status"]) for e in site.sandbox.requests if e["path"] == "/oauth/token"]
    finally:
        site.sandbox.configure(oauth_client_id=None)
    assert good["status"] is True and "credentials accepted" in good["message"], good
    assert bad["status"] is False and "'client_id' and 'client_secret'" in bad["message"], bad
    assert wrong_user["status"] is False and "login and password" in wrong_user["message"], wrong_user
    for answer in (good, bad, wrong_user):
        assert not any(s in answer["message"] for s in ("csecret-WRONG-3e1b", "pw-WRONG-0c4d", *OAUTH.values()) if s != OAUTH["client_id"])
    assert grants == [("password", 200), ("password", 401), ("password", 400)]
