"""The one funnel every Cloudflare API request goes through.

`CloudflareApi.call` sends one request through the SDK: within the run's request budget (which
also follows the Ratelimit headers of every answer),
waiting out 429s as Retry-After asks, retrying transient faults (no answer, 5xx) a few times,
and turning every refusal into a typed CloudflareError with its remedy (cloudflare.hints).
`pages` is the one paginator. An error the SDK raises that nobody foresaw fails only the
request it belongs to, as one line.

Does not: know what the requests mean (the resource modules do).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from acmecf.cloudflare.budget import RequestBudget
from acmecf.cloudflare.credentials import Credentials
from acmecf.cloudflare.hints import DNS_PERMISSION, explain
from acmecf.dns.provider import Zone
from acmecf.errors import CloudflareError, CloudflareUnreachable

if TYPE_CHECKING:
    import httpx
    from cloudflare import Cloudflare

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long one API call may be held back by 429 replies before the run gives up.
MAX_RATE_LIMIT_WAIT = 330.0
TRANSIENT_ATTEMPTS = 3
# A silent API (connections accepted, nothing answered) fails a call after about 30 s.
REQUEST_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0


class CloudflareApi:
    """One set of credentials talking to the Cloudflare API. Shared by threads; one instance
    per credentials per run. `requests` counts what was sent."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str | None = None,
        budget: RequestBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.base_url = base_url
        self._budget = budget or RequestBudget(sleep=sleep)
        self._sleep = sleep
        self._client_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._client: Cloudflare | None = None
        self.requests = 0

    def call(
        self,
        request: Callable[[Cloudflare], T],
        *,
        action: str,
        zone: Zone | None,
        permission: str = DNS_PERMISSION,
        deleting: bool = False,
    ) -> T:
        """Run one API request: within the budget, waiting out 429s, retrying transient faults.

        Raises a CloudflareError subclass with the remedy; a 403 names `permission`, the token
        permission the endpoint needs; with `deleting`, a 404 raises RecordMissing.
        """
        import cloudflare

        client = self._sdk()
        waited = 0.0
        transient = 0
        while True:
            self._budget.acquire(self.credentials.user_key)
            with self._count_lock:
                self.requests += 1
            try:
                return request(client)
            except cloudflare.RateLimitError as err:
                delay = retry_after(err.response.headers.get("retry-after"))
                if waited + delay > MAX_RATE_LIMIT_WAIT:
                    raise CloudflareError(
                        f"Cloudflare rate limit while {action} did not lift after "
                        f"{waited:.0f}s: too many API requests for this user; retry later",
                        status=429,
                        action=action,
                    ) from err
                self._budget.block(delay)
                log.info("Cloudflare rate limit: waiting %.0fs as it asks", delay)
                waited += delay
            except (cloudflare.APIConnectionError, cloudflare.InternalServerError) as err:
                transient += 1
                status = getattr(err, "status_code", None)
                if transient >= TRANSIENT_ATTEMPTS:
                    where = self.base_url or "api.cloudflare.com"
                    what = f"HTTP {status}" if status else _short(err)
                    raise CloudflareUnreachable(
                        f"no usable answer from the Cloudflare API ({where}) while {action}: "
                        f"{what}; check the network (or CLOUDFLARE_BASE_URL) and retry later",
                        status=status,
                        action=action,
                    ) from err
                log.debug("Cloudflare API fault while %s (%s): retrying", action, _short(err))
                self._sleep(0.5 * 2**transient)
            except cloudflare.APIResponseValidationError as err:
                raise CloudflareError(
                    f"the Cloudflare API at {self.base_url or 'api.cloudflare.com'} answered "
                    f"{action} with something that is not its JSON: check CLOUDFLARE_BASE_URL",
                    action=action,
                ) from err
            except cloudflare.APIStatusError as err:
                raise explain(
                    err,
                    action,
                    zone,
                    self.credentials.describe(),
                    permission,
                    deleting=deleting,
                ) from err
            except CloudflareError:
                raise
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as err:  # an SDK that lacks an endpoint, a reply it cannot parse
                where = self.base_url or "api.cloudflare.com"
                raise CloudflareError(
                    f"the Cloudflare SDK could not handle {action} at {where} "
                    f"({type(err).__name__}: {_short(err)}): check CLOUDFLARE_BASE_URL and that "
                    "the cloudflare package is 5.x; if both are right, report it (with --debug)",
                    action=action,
                ) from err
            finally:
                self._budget.release()

    def pages(
        self,
        page: Callable[[Cloudflare, int], list[Any]],
        *,
        per_page: int,
        action: str,
        zone: Zone | None,
        permission: str = DNS_PERMISSION,
    ) -> Iterator[Any]:
        """Every item of a paged list: `page(client, number)` returns one page's items. Paged
        by hand: the SDK's auto-pager spends one more request on the empty page past the end,
        and most lists fit in one page."""
        number = 1
        while True:
            items = self.call(
                lambda client, n=number: page(client, n),  # type: ignore[misc]
                action=action,
                zone=zone,
                permission=permission,
            )
            yield from items
            if len(items) < per_page:
                return
            number += 1

    def _sdk(self) -> Cloudflare:
        with self._client_lock:
            if self._client is None:
                import httpx
                from cloudflare import Cloudflare, DefaultHttpxClient

                creds = self.credentials
                timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT)
                client = Cloudflare(
                    api_token=creds.token,
                    api_key=creds.api_key,
                    api_email=creds.email,
                    base_url=self.base_url,
                    max_retries=0,  # retries and 429 waits are ours: see call()
                    timeout=timeout,
                    # The last moment before a request leaves: a 429 that arrived since it
                    # was counted still holds it back; every answer's Ratelimit headers feed
                    # the budget.
                    http_client=DefaultHttpxClient(
                        timeout=timeout,
                        event_hooks={
                            "request": [self._before_sending],
                            "response": [self._observe],
                        },
                    ),
                )
                # The SDK fills every credential left as None from CLOUDFLARE_* variables and
                # then sends X-Auth-Email in preference to the token. Pin exactly ours.
                client.api_token = creds.token
                client.api_key = creds.api_key
                client.api_email = creds.email
                client.user_service_key = None
                self._client = client
            return self._client

    def _before_sending(self, request: Any) -> None:
        self._budget.wait_unblocked()
        log.debug("sending %s %s", request.method, request.url.path)

    def _observe(self, response: httpx.Response) -> None:
        headers = response.headers
        if response.status_code == 429:
            # Hold every worker back the moment the refusal arrives, before anything else
            # runs; call() then waits it out (and gives up after MAX_RATE_LIMIT_WAIT).
            self._budget.block(retry_after(headers.get("retry-after")))
        self._budget.observe(
            self.credentials.user_key, headers.get("ratelimit"), headers.get("ratelimit-policy")
        )


def retry_after(header: str | None) -> float:
    """Seconds from a Retry-After header (at least 1; 60 when it is missing or unreadable)."""
    try:
        return max(1.0, float(header)) if header else 60.0
    except ValueError:
        return 60.0


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:200]
