"""The acme library's network layer, with the retries RFC 8555 lets a client make.

- badNonce (§6.5): the error reply carries a fresh nonce; it is kept and the request sent
  again with it, as often as needed (a busy CA may reject many nonces in a row), up to a
  generous bound.
- rateLimited and 503 with a short Retry-After (§6.6): the request waits and goes again; the
  wait is shared, through a `Pacer`, by every session of the run with that CA, so no worker
  hammers a CA that asked for a pause. A long Retry-After fails at once, saying when to retry.

Does not: know orders or accounts, or translate errors for users (acme.problems does).
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from acme import client, messages
from josepy.errors import DeserializationError

log = logging.getLogger(__name__)

BAD_NONCE_ATTEMPTS = 40
PAUSE_ATTEMPTS = 5
MAX_PAUSE = 60.0  # a Retry-After longer than this is not waited out: the run reports it


class Pacer:
    """When a CA may be asked again: shared by every session of a run with one CA."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)

    def wait(self) -> None:
        while True:
            with self._lock:
                remaining = self._until - self._clock()
            if remaining <= 0:
                return
            self._sleep(remaining)


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if response is None:
        return None
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class Network(client.ClientNetwork):
    """ClientNetwork that keeps the nonce of error replies and retries as RFC 8555 allows."""

    def __init__(self, *args: Any, pacer: Pacer | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pacer = pacer or Pacer()

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        bad_nonces = 0
        pauses = 0
        while True:
            self.pacer.wait()
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code == "badNonce" and bad_nonces < BAD_NONCE_ATTEMPTS:
                    bad_nonces += 1
                    log.debug("badNonce from the CA, retrying with the nonce it sent")
                    continue
                if not self._pause_for(error, pauses):
                    raise
                pauses += 1

    def get(
        self, url: str, content_type: str = client.ClientNetwork.JSON_CONTENT_TYPE, **kwargs: Any
    ) -> requests.Response:
        pauses = 0
        while True:
            self.pacer.wait()
            try:
                return super().get(url, content_type=content_type, **kwargs)
            except messages.Error as error:
                if not self._pause_for(error, pauses):
                    raise
                pauses += 1

    def _pause_for(self, error: messages.Error, pauses: int) -> bool:
        """Pause the CA's sessions when it asked for a short pause; False: give up."""
        seconds = getattr(error, "retry_after", None)
        status = getattr(error, "http_status", None)
        pausable = error.code == "rateLimited" or status == 503
        if not pausable or seconds is None or seconds > MAX_PAUSE or pauses >= PAUSE_ATTEMPTS:
            return False
        log.info("the CA asked to wait %.0fs (%s): waiting", seconds, error.code or status)
        self.pacer.pause(max(seconds, 0.1))
        return True

    def _post_once(
        self,
        url: str,
        obj: Any,
        content_type: str = client.ClientNetwork.JOSE_CONTENT_TYPE,
        **kwargs: Any,
    ) -> requests.Response:
        new_nonce_url = kwargs.pop("new_nonce_url", None)
        data = self._wrap_in_jws(obj, self._get_nonce(url, new_nonce_url), url)
        kwargs.setdefault("headers", {"Content-Type": content_type})
        response = self._send_request("POST", url, data=data, **kwargs)
        try:
            response = self._check_response(response, content_type=content_type)
        except messages.Error as error:
            # RFC 8555 §6.5: error replies carry a fresh nonce too; keep it for the retry.
            if self.REPLAY_NONCE_HEADER in response.headers:
                self._add_nonce(response)
            _annotate(error, response)
            raise
        self._add_nonce(response)
        return response

    @classmethod
    def _check_response(
        cls, response: requests.Response, content_type: str | None = None
    ) -> requests.Response:
        problem = _conflict_problem(response)
        if problem is not None:
            _annotate(problem, response)
            raise problem
        try:
            return super()._check_response(response, content_type=content_type)
        except messages.Error as error:
            _annotate(error, response)
            raise


def _conflict_problem(response: requests.Response) -> messages.Error | None:
    """A 409 that is an ACME problem (RFC 9773's alreadyReplaced) rather than "this account
    exists, here is its Location": the library turns every 409 into a ConflictError without
    its problem type, so it is read here."""
    if response.status_code != 409 or "Location" in response.headers:
        return None
    try:
        body = response.json()
        return messages.Error.from_json(body) if isinstance(body, dict) else None
    except (ValueError, DeserializationError):  # not a problem document
        return None


def _annotate(error: messages.Error, response: requests.Response) -> None:
    """Keep what the reply said about waiting on the error (the library drops it)."""
    object.__setattr__(error, "retry_after", retry_after_seconds(response))
    object.__setattr__(error, "http_status", response.status_code)
