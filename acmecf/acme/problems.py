"""ACME failures as AcmeError with the remedy (RFC 8555 §6.7 problem types).

Does not: retry (acme.network does) or log.
"""

from __future__ import annotations

import requests
from acme import errors, messages

from acmecf.errors import AcmeError

HINTS = {
    "rejectedIdentifier": "the CA will not issue for this name",
    "rateLimited": "wait for the rate limit to reset (see the CA's rate-limit docs)",
    "caa": "the domain's CAA records forbid this CA; add one that allows it",
    "externalAccountRequired": "this CA needs External Account Binding credentials",
    "unsupportedIdentifier": "the CA does not support this kind of name",
    "malformed": "the request was malformed; check the names",
    "accountDoesNotExist": "the stored account is unknown to the CA; remove it from the "
    "accounts directory and run again with --agree-tos",
    "badCSR": "the CA refused the key or the names of the request",
    "invalidProfile": "the CA does not offer this profile; change --profile",
}


ERROR_PREFIX = "urn:ietf:params:acme:error:"


def problem_type(error: messages.Error) -> str:
    """The problem type without its URN prefix ("badNonce"), or "" when there is none. Types
    newer than the acme library (RFC 9773's alreadyReplaced, invalidProfile) count too: the
    library's `code` knows only the ones it lists."""
    if error.code:
        return str(error.code)
    typ = str(error.typ or "")
    return typ[len(ERROR_PREFIX) :] if typ.startswith(ERROR_PREFIX) else ""


def translate(err: Exception, server: str, action: str) -> AcmeError:
    """`err`, raised while `action` at `server`, as an AcmeError; errors that are not ACME's or
    the network's are re-raised (a bug must not be disguised)."""
    if isinstance(err, AcmeError):
        return err
    if isinstance(err, requests.exceptions.SSLError):
        return AcmeError(
            f"TLS verification of {server} failed while {action}: pass --ca-bundle with the "
            "CA certificate that signs the ACME server's HTTPS certificate"
        )
    if isinstance(err, requests.exceptions.Timeout):
        return AcmeError(
            f"the ACME server {server} did not answer in time while {action}: it may be down or "
            "overloaded; run again later"
        )
    if isinstance(err, requests.exceptions.RequestException):
        return AcmeError(
            f"cannot reach the ACME server {server} while {action} "
            f"({type(err).__name__}): check --server and the network"
        )
    if isinstance(err, messages.Error):
        code = problem_type(err)
        detail = err.detail or err.description or code
        hint = HINTS.get(code)
        retry_after = getattr(err, "retry_after", None)
        return AcmeError(
            f"the CA refused {action}: {detail}" + (f" ({hint})" if hint else ""),
            problem=code or None,
            retry_after=retry_after,
        )
    if (
        isinstance(err, errors.ClientError)
        and err.args
        and isinstance(err.args[0], requests.Response)
    ):
        status = err.args[0].status_code
        return AcmeError(
            f"the ACME server {server} answered HTTP {status} while {action}, not ACME: it may "
            "be down or behind a misconfigured proxy; check --server and run again later"
        )
    if isinstance(err, errors.Error):
        return AcmeError(f"ACME error while {action}: {err}")
    if isinstance(err, ValueError | KeyError | TypeError):  # an unreadable reply
        return AcmeError(f"the ACME server {server} sent an unexpected reply while {action}")
    raise err
