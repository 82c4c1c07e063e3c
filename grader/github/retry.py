"""Retries for GitHub's REST API: PyGithub's GithubRetry, extended where it falls short.

What GithubRetry (PyGithub 2.x) already does: retries 5xx; retries a 403 that carries
``Retry-After`` (urllib3 sleeps the header's time); reads the body of other 403s and waits until
``X-RateLimit-Reset`` for the primary limit or ``secondary_rate_wait`` for a secondary one; gives
up early with RateLimitExceededExceedsMaxWait when that computed wait is above
``max_rate_limit_wait``.

What it leaves out, and this class adds:

- 429. GitHub answers rate limits with 403 *or* 429. urllib3 retries a 429 only when it has
  ``Retry-After``; a bare 429 (or one with ``x-ratelimit-remaining: 0``) was not retried.
- A cap on ``Retry-After``: urllib3 sleeps up to six hours for it; here a wait above
  ``max_wait_s`` fails the call at once instead of holding a runner.
- PATCH. urllib3 retries GET/PUT/DELETE (GithubRetry adds POST) but not PATCH, and every edit
  of a comment or a check run is a PATCH. Ours set fields to values, so repeating one is safe.
- Backoff. GithubRetry's default backoff factor is 0: a 502 was retried at once, ten times.
- The sleep is injectable, so tests can check the exact wait without spending it.

A retried POST can create twice (the first attempt may have landed before the 5xx): the sticky
comment prunes duplicates for that reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self

from github.GithubException import RateLimitExceededExceedsMaxWait
from github.GithubRetry import GithubRetry
from urllib3 import Retry
from urllib3.exceptions import InvalidHeader
from urllib3.response import BaseHTTPResponse

from grader.github.settings import RetryPolicy

log = logging.getLogger("grader.github")

Sleep = Callable[[float], None]

RETRIED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"})


class GraderRetry(GithubRetry):
    """GithubRetry plus 429, a cap on every wait, PATCH, backoff, and an injectable sleep."""

    def __init__(
        self,
        *,
        max_wait: float,
        sleep: Sleep = time.sleep,
        rate_limit_wait: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.max_wait = max_wait
        self._sleep = sleep
        # Set on the Retry returned for a 429 without Retry-After: how long GitHub wants us to wait.
        self.rate_limit_wait = rate_limit_wait
        kwargs.setdefault("status_forcelist", [*range(500, 600), 429])
        kwargs.setdefault("allowed_methods", RETRIED_METHODS)
        kwargs.setdefault("max_rate_limit_wait", max_wait)
        super().__init__(**kwargs)

    @classmethod
    def from_policy(cls, policy: RetryPolicy, sleep: Sleep = time.sleep) -> GraderRetry:
        return cls(
            total=policy.total,
            backoff_factor=policy.backoff_factor_s,
            backoff_max=policy.backoff_max_s,
            secondary_rate_wait=policy.secondary_rate_wait_s,
            max_wait=policy.max_wait_s,
            sleep=sleep,
            # Give the last answer (e.g. the final 502) back to PyGithub, which turns it into a
            # GithubException with GitHub's message, instead of a bare urllib3 MaxRetryError.
            raise_on_status=False,
        )

    def new(self, **kw: Any) -> Self:
        kw.setdefault("max_wait", self.max_wait)
        kw.setdefault("sleep", self._sleep)
        kw.setdefault("rate_limit_wait", None)
        return super().new(**kw)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Retry:
        if response is not None:
            retry_after = response.headers.get("Retry-After")
            if retry_after is not None:
                self._refuse_long_wait(self._retry_after_seconds(retry_after), response)
            elif response.status == 429:
                wait = self._wait_for_429(response)
                self._refuse_long_wait(wait, response)
                retry = Retry.increment(self, method, url, response, error, _pool, _stacktrace)
                retry.rate_limit_wait = wait
                log.warning("GitHub answered 429 to %s %s; waiting %.1f s", method, url, wait)
                return retry
            if response.status >= 500:
                log.warning("GitHub answered %s to %s %s; retrying", response.status, method, url)
        # PyGithub narrows urllib3's `response: BaseHTTPResponse` to HTTPResponse (with its own
        # ignore[override]); urllib3 hands every Retry a BaseHTTPResponse, as it does us.
        return super().increment(method, url, response, error, _pool, _stacktrace)  # type: ignore[arg-type]

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait = self.wait_seconds(response)
        if wait > 0:
            self._sleep(wait)

    def wait_seconds(self, response: BaseHTTPResponse | None) -> float:
        """Retry-After if GitHub sent it, else the rate-limit wait, else exponential backoff."""
        if response is not None and self.respect_retry_after_header:
            retry_after = response.headers.get("Retry-After")
            if retry_after is not None:
                return self._retry_after_seconds(retry_after)
        if self.rate_limit_wait is not None:
            return self.rate_limit_wait
        # GithubRetry replaces get_backoff_time on the instance for 403 rate limits.
        return self.get_backoff_time()

    def _retry_after_seconds(self, value: str) -> float:
        try:
            return self.parse_retry_after(value)
        except InvalidHeader:  # not seconds, not a date: GitHub's advice is to wait a minute
            return self.secondary_rate_wait

    def _wait_for_429(self, response: BaseHTTPResponse) -> float:
        """GitHub: remaining 0 → until x-ratelimit-reset; otherwise a secondary limit."""
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        if remaining == "0" and reset and reset.isdigit():
            until_reset = int(reset) - datetime.now(UTC).timestamp()
            return max(until_reset, 0.0) + 1.0  # the reset happens somewhere within that second
        return max(self.secondary_rate_wait, self.get_backoff_time())

    def _refuse_long_wait(self, wait: float, response: BaseHTTPResponse) -> None:
        if wait > self.max_wait:
            log.error(
                "GitHub asks to wait %.0f s (status %s); that is over the %.0f s limit, giving up",
                wait,
                response.status,
                self.max_wait,
            )
            raise RateLimitExceededExceedsMaxWait(
                response.status,
                {"message": f"GitHub asked to wait {wait:.0f} s, more than max_wait_s={self.max_wait:.0f}"},
                dict(response.headers),
                wait=wait,
            )
