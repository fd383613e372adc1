"""LipsHook: the LIPS connection, composed of settings, authenticator, requester and paginator."""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Mapping
from functools import cached_property
from typing import Any

import requests

from airflow.sdk import BaseHook
from airflow_provider_lips.client.auth import LipsAuth, TokenAuth
from airflow_provider_lips.client.bounds import read_body
from airflow_provider_lips.client.endpoints import CONTACT_INTERACTIONS, CONTACTS, Endpoint
from airflow_provider_lips.client.handshake import tls_error
from airflow_provider_lips.client.oauth2 import OAuth2Auth
from airflow_provider_lips.client.paginator import Page, PagePaginator
from airflow_provider_lips.client.query import ContactInteractionFilters, QueryParams
from airflow_provider_lips.client.ratebudget import SharedRateBudget, open_rate_budget
from airflow_provider_lips.client.ratelimit import RateLimiter
from airflow_provider_lips.client.requester import RateBudget, Requester
from airflow_provider_lips.client.retry import RetryPolicy
from airflow_provider_lips.client.settings import LipsClientSettings, parse_settings
from airflow_provider_lips.exceptions import (
    LipsApiError,
    LipsRateBudgetError,
    LipsResponseError,
    LipsTlsError,
    LipsTransientError,
    LipsValidationError,
)
from airflow_provider_lips.pii import DEFAULT_PII_KEY_CONN_ID, parse_policy, read_key
from airflow_provider_lips.provider_info import get_provider_info
from airflow_provider_lips.pull.engine import Completeness, Pull
from airflow_provider_lips.pull.stream import stream_records
from airflow_provider_lips.pull.window import TimeWindow

__all__ = ["LipsClientSettings", "LipsHook", "Page"]


class LipsHook(BaseHook):
    """Talk to the LIPS API: auth, one keep-alive session, a shared rate limit, retries and paging.

    The connection's host is the base URL with its scheme, the password is the API token
    (with ``auth_type: oauth2``: login and password are the OAuth2 user's, and the extra holds
    ``client_id``, ``client_secret`` and optionally ``token_url``), and the extra may hold
    ``auth_type``, ``api_key``, ``request_timeout``,
    ``requests_per_second``, ``per_page``, ``concurrency``, ``max_attempts``,
    ``retry_base_wait``, ``retry_max_wait``, ``allow_insecure_http``, ``max_bytes_in_flight``,
    ``max_response_bytes``, ``response_deadline`` and ``rate_limit_redis_conn_id``. ``per_page``,
    ``concurrency`` and ``max_bytes_in_flight`` given here win over the extra; ``None`` defers to it.

    Every request draws from the rate budget shared by every process on the same credentials
    (:mod:`airflow_provider_lips.client.ratebudget`): this machine's by default, a Redis one when the
    extra names ``rate_limit_redis_conn_id``.
    """

    conn_name_attr = "lips_conn_id"
    default_conn_name = "lips_default"
    conn_type = "lips"
    hook_name = "LIPS"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The form's relabeling, placeholders and hidden fields for Airflow < 3.2, which reads them here
        (later releases read the same from the provider info)."""
        behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
        return {key.replace("-", "_"): value for key, value in behaviour.items()}

    def __init__(
        self,
        lips_conn_id: str = default_conn_name,
        *,
        per_page: int | None = None,
        concurrency: int | None = None,
        max_bytes_in_flight: int | None = None,
        retry_policy: RetryPolicy | None = None,
        rate_limiter: RateBudget | None = None,
    ) -> None:
        super().__init__()
        self.lips_conn_id = lips_conn_id
        self._arguments = {"per_page": per_page, "concurrency": concurrency, "max_bytes_in_flight": max_bytes_in_flight}
        self._retry_policy = retry_policy
        self._rate_limiter = rate_limiter

    @cached_property
    def settings(self) -> LipsClientSettings:
        """Read and validate the connection; secrets are masked the moment they are read."""
        return parse_settings(self.get_connection(self.lips_conn_id), self.lips_conn_id, **self._arguments)

    @cached_property
    def rate_limiter(self) -> RateBudget:
        """The shared rate budget, connected and checked: a lost Redis fails here, before any request."""
        if self._rate_limiter is not None:
            return self._rate_limiter
        return self._open_rate_budget()

    def _open_rate_budget(self) -> SharedRateBudget:
        settings = self.settings
        return open_rate_budget(
            lips_conn_id=self.lips_conn_id,
            base_url=settings.base_url,
            token=settings.credentials,
            requests_per_second=settings.requests_per_second,
            redis_conn_id=settings.rate_limit_redis_conn_id,
        )

    @cached_property
    def authenticator(self) -> LipsAuth:
        """The authenticator the connection's ``auth_type`` names (one of ``settings.AUTH_TYPES``); OAuth2's
        sends its grants through this hook's requester, with its retries."""
        settings = self.settings
        if settings.auth_type == "oauth2":
            return OAuth2Auth(settings, self._send_token_request)
        return TokenAuth(settings)

    def _send_token_request(self, url: str, body: Mapping[str, str], *, what: str) -> requests.Response:
        return self.requester.send_token_request(url, body, what=what)

    @cached_property
    def requester(self) -> Requester:
        return Requester(self.settings, self.authenticator, rate_limiter=self.rate_limiter, retry_policy=self._retry_policy)

    @cached_property
    def paginator(self) -> PagePaginator:
        settings = self.settings
        return PagePaginator(
            self.requester,
            per_page=settings.per_page,
            concurrency=settings.concurrency,
            max_bytes_in_flight=settings.max_bytes_in_flight,
        )

    def get_conn(self) -> requests.Session:
        """The hook's keep-alive session, authenticating every request to the LIPS host."""
        return self.requester.session

    def close(self) -> None:
        """Close the session and the budget this hook opened; a later request opens them again."""
        self.__dict__.pop("paginator", None)
        self.__dict__.pop("authenticator", None)
        requester = self.__dict__.pop("requester", None)
        if requester is not None:
            requester.close()
        budget = self.__dict__.pop("rate_limiter", None)
        if isinstance(budget, SharedRateBudget) and budget is not self._rate_limiter:
            budget.close()

    def get_json(self, path: str, params: QueryParams) -> Any:
        """GET ``path`` with rate limit and retries, parsed as JSON."""
        return self.requester.get_json(path, params)

    def iter_pages(
        self, endpoint: Endpoint, params: QueryParams, *, expected_records: int | None = None,
        descending_from: int | None = None,
    ) -> Generator[Page, None, None]:
        """Every page of ``endpoint`` for ``params``, in page order (pages 2..N fetched concurrently); with
        ``expected_records`` (the totals' count) the walk stops a small multiple of the pages those need.
        With ``descending_from=N``: pages N down to 1, one at a time (see :meth:`PagePaginator.iter_pages`)."""
        return self.paginator.iter_pages(
            endpoint.path, params, records_key=endpoint.records_key, expected_records=expected_records,
            descending_from=descending_from,
        )

    def get_totals(self, endpoint: Endpoint, params: QueryParams) -> dict[str, Any]:
        """The counts ``endpoint.totals_path`` answers for the same filters as a listing."""
        if endpoint.totals_path is None:
            raise LipsValidationError(f"The {endpoint.name} listing has no totals endpoint; count its records instead.")
        body = self.get_json(endpoint.totals_path, params)
        if not isinstance(body, dict):
            raise LipsResponseError(
                f"GET {endpoint.totals_path} answered {self.requester.excerpt(json.dumps(body))!r}, not an object."
            )
        return body

    # -- records in Python ------------------------------------------------------------------

    def iter_contact_interactions(
        self,
        global_master_advertiser_id: str | list[str] | None,
        start: Any,
        end: Any,
        *,
        include_archived: bool = False,
        completeness: Completeness = "fail",
        pii: str | Mapping[str, str] | None = None,
        pii_key_conn_id: str = DEFAULT_PII_KEY_CONN_ID,
        **filters: Any,
    ) -> Generator[dict[str, Any], None, None]:
        """Every interaction with ``start <= occurred_at < end``, each once, as the operator gets them.

        ``filters`` are the operator's: ``global_master_campaign_id``, ``phone_numbers``,
        ``event_types``, ``channels`` (with ``global_master_advertiser_id`` ``None``, a campaign
        id is required). Arguments are checked before any request; records are yielded as pages
        arrive. See :meth:`iter_contacts` for ``pii`` and ``completeness``.
        """
        return self._iter_records(
            CONTACT_INTERACTIONS, global_master_advertiser_id, start, end, filters,
            include_archived=include_archived, completeness=completeness, pii=pii, pii_key_conn_id=pii_key_conn_id,
        )

    def iter_contacts(
        self,
        global_master_advertiser_id: str | list[str],
        start: Any,
        end: Any,
        *,
        pii: str | Mapping[str, str] | None = None,
        pii_key_conn_id: str = DEFAULT_PII_KEY_CONN_ID,
    ) -> Generator[dict[str, Any], None, None]:
        """Every contact of the advertiser with ``start <= created_at < end``, each once.

        ``start`` and ``end`` are dates, datetimes or ISO 8601 text (naive means UTC). ``pii``
        is the operators' PII policy (a preset or a mapping of field to keep/drop/hash; the
        key is the password of ``pii_key_conn_id``, read only when the policy hashes). With
        ``completeness="fail"`` (interactions only) an incomplete window raises
        ``LipsIncompleteError`` after its records were yielded: collect them before acting
        when you need all or nothing.
        """
        return self._iter_records(
            CONTACTS, global_master_advertiser_id, start, end, {},
            include_archived=False, completeness="off", pii=pii, pii_key_conn_id=pii_key_conn_id,
        )

    def _iter_records(
        self,
        endpoint: Endpoint,
        global_master_advertiser_id: Any,
        start: Any,
        end: Any,
        filters: Mapping[str, Any],
        *,
        include_archived: bool,
        completeness: Completeness,
        pii: str | Mapping[str, str] | None,
        pii_key_conn_id: str,
    ) -> Generator[dict[str, Any], None, None]:
        """Validate everything and read the connections here, then stream the pull (see :func:`stream_records`)."""
        unknown = sorted(set(filters) - endpoint.filters)
        if unknown:
            raise LipsValidationError(
                f"The {endpoint.name} listing does not filter by {unknown}; it filters by {sorted(endpoint.filters)}."
            )
        if completeness not in ("fail", "warn", "off"):
            raise LipsValidationError(f"completeness must be 'fail', 'warn' or 'off', got {completeness!r}.")
        window = TimeWindow.from_values(start, end, start_name="start", end_name="end")
        query = ContactInteractionFilters.from_values(global_master_advertiser_id=global_master_advertiser_id, **filters)
        policy = parse_policy(pii, endpoint)
        redactor = policy.compile(read_key(pii_key_conn_id) if policy.hashes else None) if policy else None
        self.requester.quote_bodies = redactor is None
        _ = self.rate_limiter  # connected here: an unreachable Redis fails before the first record is asked for
        pull = Pull(self, endpoint, query, window, completeness=completeness, include_archived=include_archived, redactor=redactor)
        return stream_records(pull)

    # -- the UI's Test button --------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with one request that needs no advertiser id.

        Without an advertiser or campaign id LIPS answers 422 once the credentials pass,
        and 401/403 when they do not, so 2xx and 422 both mean "accepted". An OAuth2
        connection first obtains its token; a rejected client or user is reported as such.

        The one request draws from no shared rate budget, so none is opened where the button
        runs (the API server); a Redis the extra names is connected to, checked and closed.
        Every failure, Redis down or a hostile answer included, is ``(False, reason)``, never raised.
        """
        unmetered = self._rate_limiter is None and "rate_limiter" not in self.__dict__
        if unmetered:
            self._rate_limiter = RateLimiter(None)
        try:
            return self._test_connection()
        except Exception as err:  # whatever else a broken or hostile server provokes is reported, not raised
            return False, self._redacted(f"Testing connection {self.lips_conn_id!r} failed: {type(err).__name__}: {err}")
        finally:
            if unmetered:
                self.close()
                self._rate_limiter = None

    def _redacted(self, text: str) -> str:
        try:
            return self.requester.redact(text)
        except Exception:  # no requester to redact with (the settings themselves failed): say only what failed
            return text.split(":", 1)[0] + ": (details withheld)"

    def _test_connection(self) -> tuple[bool, str]:
        path = CONTACT_INTERACTIONS.path
        try:
            settings = self.settings
            if settings.rate_limit_redis_conn_id and "rate_limiter" not in self.__dict__:
                self._open_rate_budget().close()  # a Redis named by the extra must answer; nothing is drawn from it
            sent = time.monotonic()
            response = self.get_conn().get(
                self.requester.url(path, [("per_page", "1")]), timeout=settings.request_timeout, stream=True
            )
            # The answer is bounded like any other (client/bounds.py): the button must not hold a 1.5 GB body.
            read_body(
                response, max_bytes=settings.max_response_bytes, deadline=settings.response_deadline, sent=sent, what=f"GET {path}"
            )
        except (
            LipsValidationError, LipsApiError, LipsTransientError, LipsResponseError, LipsTlsError, LipsRateBudgetError
        ) as err:
            return False, str(err)  # the token endpoint's answer for OAuth2; messages never hold a secret
        except requests.exceptions.SSLError as err:
            return False, str(tls_error(f"Could not reach {settings.base_url}", settings.base_url, err))
        except requests.RequestException as err:
            return False, self.requester.redact(f"Could not reach {settings.base_url}: {type(err).__name__}: {err}")
        if response.status_code < 300 or response.status_code == 422:
            return True, f"Connected to {settings.base_url}: credentials accepted."
        return False, str(self.requester.api_error(f"GET {path}", response))
