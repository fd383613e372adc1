"""Run a LIPS sandbox as a separate process (for the demo and for scripts).

``python -m lips_sandbox --port 0 --ready-file /tmp/url``
prints one "listening" line, writes the URL to the ready file once it accepts
connections, and exits 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from types import FrameType

from lips_sandbox.data import generate_interactions, with_long_transcripts
from lips_sandbox.server import LipsSandbox
from lips_sandbox.settings import SandboxSettings

# (flag, setting, help): values go to SandboxSettings as text, which validates them.
_SETTING_FLAGS = (
    ("--max-per-page", "max_per_page", "page size cap"),
    ("--latency-ms", "latency_ms", "fixed delay per API request"),
    ("--latency-jitter-ms", "latency_jitter_ms", "extra uniform random delay per API request"),
    ("--rate-limit", "rate_limit_rps", "requests per sliding second before 429"),
    ("--arrival-jitter-ms", "arrival_jitter_ms", "uniform random delay before the rate limit counts an arrival"),
    ("--retry-after-format", "retry_after_format", "none (as documented) | seconds | http-date"),
    ("--burst-429", "burst_429", "request ordinals answered 429 (3,7) or a fraction (0.1)"),
    ("--error-rate", "error_rate", "fraction of API requests answered 500/502/503/504"),
    ("--drop-rate", "drop_rate", "fraction of API requests whose connection is closed unanswered"),
    ("--malformed-pages", "malformed_pages", "pages answered with invalid JSON, e.g. 3,7"),
    ("--missing-key-pages", "missing_key_pages", "pages answered without contact_interactions"),
    ("--wrong-page-pages", "wrong_page_pages", "pages answered with the next page instead"),
    ("--mutate-during-walk", "mutate_during_walk", 'JSON, e.g. {"after_requests": 3, "insert": 5, "archive": 5}'),
    ("--redirect-to", "redirect_to", "answer API requests with 302 to this base URL"),
    ("--forbidden-advertisers", "forbidden_advertisers", "gmaids answered 403, e.g. USA_3"),
    ("--filter-utc-offset-hours", "filter_utc_offset_hours", "time zone of start_date/end_date dates"),
    ("--as-of", "as_of", "ISO datetime: records created later are not visible yet"),
    ("--fault-seed", "fault_seed", "seed of the fault sequence"),
    ("--oauth-client-id", "oauth_client_id", "turn on OAuth2 (POST /oauth/token, Bearer tokens) for this client"),
    ("--oauth-client-secret", "oauth_client_secret", "the OAuth2 client's secret"),
    ("--oauth-username", "oauth_username", "the password grant's username"),
    ("--oauth-password", "oauth_password", "the password grant's password"),
    ("--access-token-seconds", "oauth_access_token_seconds", "access token lifetime"),
    ("--refresh-token-seconds", "oauth_refresh_token_seconds", "refresh token lifetime; none: until used"),
    ("--token-errors", "token_errors", "token request ordinals answered 503 (1,2) or a fraction (0.5)"),
    ("--token-latency-ms", "token_latency_ms", "delay per token request"),
    ("--totals-shape", "totals_shape", "nested (as documented) | flat (older deployments)"),
    ("--totals-ignore-archived", "totals_ignore_archived", "true: totals counts live interactions even with archived=true"),
    ("--totals-count-fpd", "totals_count_fpd", "false: totals' events leaves FPD events out"),
    ("--lie-total-pages", "lie_total_pages", "every listing page claims this many pages (empty past the data)"),
    ("--ignore-page", "ignore_page", "true: every page serves page 1's records, labelled as the page asked for"),
    ("--totals-events", "totals_events", "totals' events count says this, whatever the listing holds"),
    ("--huge-pages", "huge_pages", "pages answered with a body of --huge-body-bytes, streamed"),
    ("--huge-body-bytes", "huge_body_bytes", "size of a huge page's body"),
    ("--huge-body-chunked", "huge_body_chunked", "true: send huge bodies chunked, without Content-Length"),
    ("--trickle-pages", "trickle_pages", "pages sent one byte per --trickle-interval-ms after the headers"),
    ("--trickle-headers-pages", "trickle_headers_pages", "pages whose status line and headers go one byte per --trickle-interval-ms"),
    ("--trickle-interval-ms", "trickle_interval_ms", "delay between a trickled page's bytes"),
    ("--deep-nesting-pages", "deep_nesting_pages", "pages whose first record nests --nesting-depth arrays"),
    ("--nesting-depth", "nesting_depth", "depth of the nested arrays"),
    ("--bad-occurred-at-ids", "bad_occurred_at_ids", "interaction ids served with an impossible occurred_at"),
    ("--bad-created-at-ids", "bad_created_at_ids", "interaction ids served with created_at 'not a timestamp'"),
    ("--numeric-created-at-ids", "numeric_created_at_ids", "interaction ids served with a numeric created_at"),
    ("--event-type-style", "event_type_style", "plain (call) | class (CallEvent)"),
    ("--occurred-field", "occurred_field", "occurred_at | occured_at"),
    ("--contacts-without-id", "contacts_without_id", "fraction of interactions whose contact has no id and no contact_id"),
    ("--phone-extensions", "phone_extensions", "fraction of interactions whose phone numbers carry ' x<ext>'"),
    ("--timestamp-offset-hours", "timestamp_offset_hours", "serve timestamps at this UTC offset; none: ...Z"),
)


_DEFAULTS = {field.name: field.default for field in dataclasses.fields(SandboxSettings)}


def _shown(value: object) -> str:
    """A SandboxSettings default as --help shows it."""
    if value is None or value == frozenset():
        return "none"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _moment(text: str) -> datetime:
    """A date (midnight UTC) or an ISO datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _parser() -> argparse.ArgumentParser:
    # Today in UTC, like the data: the local date is a day off for part of every day away from UTC.
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    # Every option shows its default in --help; the settings flags show SandboxSettings' (their
    # argparse default is SUPPRESS, so that only the flags given reach the settings).
    parser = argparse.ArgumentParser(
        prog="python -m lips_sandbox", description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    # Not 8080: that is the Airflow api-server's port.
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1, help="data seed")
    parser.add_argument("--interactions", type=int, default=5000, help="how many interactions to generate")
    parser.add_argument("--start", type=_moment, default=today - timedelta(days=60), help="first occurred_at (UTC): 60 days before today")
    parser.add_argument("--end", type=_moment, default=today, help="occurred_at upper bound, exclusive (UTC): today's midnight")
    parser.add_argument("--advertisers", default="USA_1,USA_2,USA_3", help="comma-separated gmaids")
    parser.add_argument("--token", default="sandbox-token", help="expected 'Authorization: token ...'")
    parser.add_argument("--api-key", help="expected x-api-key (not required when omitted)")
    parser.add_argument("--ready-file", help="write the base URL here once listening")
    parser.add_argument(
        "--transcript-bytes", type=int, default=0, help="make every interaction a chat with about this many bytes of transcript"
    )
    for flag, setting, text in _SETTING_FLAGS:
        parser.add_argument(flag, dest=setting, default=argparse.SUPPRESS, help=f"{text} (default: {_shown(_DEFAULTS[setting])})")
    return parser


def _write_atomically(path: str, text: str) -> None:
    """Readers polling for the file never see it half-written."""
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = {setting: getattr(args, setting, None) for _, setting, _ in _SETTING_FLAGS}
    advertisers = [gmaid for gmaid in args.advertisers.split(",") if gmaid]
    interactions = generate_interactions(args.seed, args.interactions, args.start, args.end, advertisers)
    if args.transcript_bytes:
        interactions = with_long_transcripts(interactions, args.transcript_bytes)
    try:
        sandbox = LipsSandbox(
            interactions,
            token=args.token,
            api_key=args.api_key,
            host=args.host,
            port=args.port,
            **{name: value for name, value in settings.items() if value is not None},
        )
    except ValueError as error:
        parser.error(str(error))
    sandbox.warm_up()  # "ready" means full speed: no first-walk encoding cost
    gc.freeze()  # the data lives as long as the process: keep full collections from re-walking it mid-benchmark
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with sandbox:
        print(
            f"LIPS sandbox listening on {sandbox.url} ({len(interactions)} interactions, seed {args.seed}, "
            f"occurred {args.start.isoformat()} .. {args.end.isoformat()}, advertisers {','.join(advertisers)})",
            flush=True,
        )
        if args.ready_file:
            _write_atomically(args.ready_file, sandbox.url + "\n")
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
