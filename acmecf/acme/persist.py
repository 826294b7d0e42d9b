"""The dns-persist-01 challenge (draft-ietf-acme-dns-persist-01): one persistent TXT record at
`_validation-persist.<name>` lets one ACME account at one CA issue for the name, for as long as
the record stands; no DNS change per order.

The acme library has no type for this challenge: it arrives as an UnrecognizedChallenge whose
JSON is read here (`issuer-domain-names`, `accounturi`), and it is answered with `{}` (RFC 8555
§7.5.1) through the session's signed POST. The record follows RFC 8659's issue-value syntax:

    <issuer-domain-name>; accounturi=<account URL>[; policy=wildcard][; persistUntil=<unix time>]

`policy=wildcard` makes the record good for `*.<name>` (and names below it) too; after
`persistUntil` the CA stops accepting it. `record_value` writes such a text, `parse_record`
reads one (as Pebble's validation authority does), `check_records` says what keeps a set of
records from letting an account issue. Does not: publish records or look DNS up
(lifecycle.persist does), or order certificates (acme.orders).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from acme import challenges, messages
from josepy.interfaces import JSONDeSerializable

from acmecf.acme.client import AcmeSession
from acmecf.acme.problems import translate
from acmecf.errors import AcmeError

log = logging.getLogger(__name__)

DNS_PERSIST_01 = "dns-persist-01"
LABEL = "_validation-persist"
UTC = datetime.UTC


@dataclass(frozen=True)
class PersistChallenge:
    """A dns-persist-01 challenge of one authorization: `name` is the name the record is for
    (`example.com` for an order of `*.example.com`, whose record needs policy=wildcard)."""

    identifier: str  # as ordered: "*.example.com" for a wildcard
    name: str
    wildcard: bool
    url: str
    issuer_domain_names: tuple[str, ...]
    account_uri: str | None  # the account the CA expects in the record, when it says

    @property
    def record_name(self) -> str:
        return record_name(self.name)


def record_name(name: str) -> str:
    """Where the record for `name` lives (a wildcard's record is its base name's)."""
    return f"{LABEL}.{name.removeprefix('*.')}"


def _offered(authorization: messages.Authorization) -> tuple[dict[str, Any] | None, list[str]]:
    """The dns-persist-01 challenge's JSON in an authorization, and every type offered."""
    types: list[str] = []
    found: dict[str, Any] | None = None
    for challenge in authorization.challenges:
        chall = challenge.chall
        if isinstance(chall, challenges.UnrecognizedChallenge):
            kind = str(chall.jobj.get("type", ""))
            if kind == DNS_PERSIST_01 and found is None:
                found = dict(chall.jobj)
        else:
            kind = str(getattr(chall, "typ", ""))
        types.append(kind)
    return found, types


def challenges_of(
    session: AcmeSession, order: messages.OrderResource, *, pending_only: bool = True
) -> list[PersistChallenge]:
    """The dns-persist-01 challenges of an order's authorizations (those already valid are
    left out with `pending_only`). Raises AcmeError, in one line, when the CA does not offer
    dns-persist-01."""
    result: list[PersistChallenge] = []
    for authorization in order.authorizations:
        body = authorization.body
        name = body.identifier.value
        display = f"*.{name}" if body.wildcard else name
        if pending_only and body.status == messages.STATUS_VALID:
            log.debug("authorization for %s is already valid", display)
            continue
        found, types = _offered(body)
        if found is None:
            raise AcmeError(
                f"the CA at {session.server} does not offer dns-persist-01 for {display} (it "
                f"offers {', '.join(sorted(set(types))) or 'no challenge'}): use --challenge "
                "dns-01"
            )
        issuers = found.get("issuer-domain-names") or ()
        if isinstance(issuers, str):
            issuers = (issuers,)
        legacy = found.get("issuer-domain-name")  # draft-sheurich-00 had a single name
        names = tuple(str(i) for i in issuers) or ((str(legacy),) if legacy else ())
        if not names:
            raise AcmeError(
                f"the CA at {session.server} sent a dns-persist-01 challenge for {display} "
                "without issuer-domain-names: it cannot be answered"
            )
        account = found.get("accounturi")
        result.append(
            PersistChallenge(
                identifier=display,
                name=name,
                wildcard=bool(body.wildcard),
                url=str(found.get("url") or authorization.uri),
                issuer_domain_names=names,
                account_uri=str(account) if account else None,
            )
        )
    return result


class _EmptyObject(JSONDeSerializable):
    """The `{}` a challenge is answered with (RFC 8555 §7.5.1). The acme library sends no body
    for an object that is falsy, so this one is always true."""

    def to_partial_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_json(cls, jobj: Any) -> _EmptyObject:
        return cls()

    def __bool__(self) -> bool:
        return True


def answer(session: AcmeSession, challenge: PersistChallenge) -> None:
    """Tell the CA the persistent record is in place: it looks it up now."""
    session.post(
        challenge.url, _EmptyObject(), f"answering the challenge for {challenge.identifier}"
    )


def probe(session: AcmeSession, names: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    """The issuer domain names and the account URL the CA's dns-persist-01 challenges expect
    (the URL may be None: the CA does not say). Read from an order for `names` opened for
    that alone and never finalized; its pending authorizations are deactivated afterwards
    (RFC 8555 §7.5.2) so they do not linger. When the CA reused only authorizations that
    are valid already (they list no challenge left to solve), the directory's caaIdentities
    stand in for the issuer domain names. Raises AcmeError, in one line, when the CA does
    not offer dns-persist-01."""
    identifiers = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name) for name in names]
    response = session.post(
        session.directory["newOrder"],
        messages.NewOrder(identifiers=identifiers),
        "opening an order to read its dns-persist-01 challenge",
    )
    try:
        body = messages.Order.from_json(response.json())
        authorizations = []
        for url in body.authorizations:
            reply = session.post(url, None, "reading an authorization")
            authorizations.append(
                messages.AuthorizationResource(
                    body=messages.Authorization.from_json(reply.json()), uri=url
                )
            )
    except AcmeError:
        raise
    except Exception as err:
        raise translate(err, session.server, "reading the order") from err
    order = messages.OrderResource(body=body, authorizations=authorizations)
    try:
        found = challenges_of(session, order)
    finally:
        for authorization in authorizations:
            if authorization.body.status != messages.STATUS_PENDING:
                continue
            try:
                session.post(
                    authorization.uri,
                    messages.UpdateAuthorization(status=messages.STATUS_DEACTIVATED),
                    "deactivating an authorization",
                )
            except AcmeError as err:  # tidiness only: the CA expires it anyway
                log.debug("could not deactivate %s: %s", authorization.uri, err)
    if found:
        return found[0].issuer_domain_names, found[0].account_uri
    identities = getattr(session.directory.meta, "caa_identities", None) or ()
    if not identities:
        raise AcmeError(
            f"the CA at {session.server} names neither its issuer domain names (it reused "
            "valid authorizations, which list no dns-persist-01 challenge) nor caaIdentities: "
            "try again once those authorizations have expired"
        )
    return tuple(str(identity) for identity in identities), None


# --- the record --------------------------------------------------------------------------------


def record_value(
    issuer: str,
    account_uri: str,
    *,
    wildcard: bool = False,
    until: datetime.datetime | None = None,
) -> str:
    """The record's text: the issuer domain name, then the account, then the options."""
    parts = [issuer, f"accounturi={account_uri}"]
    if wildcard:
        parts.append("policy=wildcard")
    if until is not None:
        parts.append(f"persistUntil={int(until.timestamp())}")
    return "; ".join(parts)


@dataclass(frozen=True)
class PersistRecord:
    """One TXT value read at a `_validation-persist` name. `problem` says why it is malformed
    (then only `issuer` is known)."""

    text: str
    issuer: str
    account_uri: str | None = None
    wildcard: bool = False
    until: datetime.datetime | None = None
    problem: str | None = None


def _trim(text: str) -> str:
    return text.strip(" \t")


def parse_record(text: str) -> PersistRecord:
    """Read one TXT value as an RFC 8659 issue-value with the draft's parameters. Tags are
    case-insensitive, unknown ones are ignored, a duplicate or malformed one makes the record
    malformed (as the CA then ignores it)."""
    head, *params = text.split(";")
    issuer = _trim(head).lower()
    seen: set[str] = set()
    values: dict[str, str] = {}
    for raw in params:
        param = _trim(raw)
        tag, equals, value = param.partition("=")
        tag, value = _trim(tag).lower(), _trim(value)
        if not param or not equals or not tag:
            return PersistRecord(text, issuer, problem=f"malformed parameter {param!r}")
        if tag in seen:
            return PersistRecord(text, issuer, problem=f"parameter {tag} appears twice")
        seen.add(tag)
        if any(not (0x21 <= ord(c) <= 0x7E) or c == ";" for c in value):
            return PersistRecord(text, issuer, problem=f"malformed value of {tag}: {value!r}")
        values[tag] = value
    until = None
    if "persistuntil" in values:
        try:
            until = datetime.datetime.fromtimestamp(int(values["persistuntil"]), UTC)
        except (ValueError, OverflowError, OSError):
            return PersistRecord(
                text, issuer, problem=f"persistUntil {values['persistuntil']!r} is not a time"
            )
    account = values.get("accounturi") or None
    if account is None:
        return PersistRecord(text, issuer, problem="it has no accounturi")
    return PersistRecord(
        text,
        issuer,
        account_uri=account,
        wildcard=values.get("policy", "").lower() == "wildcard",
        until=until,
    )


@dataclass(frozen=True)
class PersistCheck:
    """What the records at one name do for an account: `record` is the one that lets it issue
    (None when none does), `problem` what is wrong, in words; `kind` the kind of problem
    ("missing", "other-account", "malformed", "ended", "no-wildcard"; None when fine)."""

    name: str
    record: PersistRecord | None
    problem: str | None
    others: tuple[PersistRecord, ...] = ()  # records of this CA bound to other accounts
    kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_records(
    name: str,
    values: Iterable[str],
    *,
    issuers: Sequence[str],
    account_uri: str,
    wildcard: bool,
    now: datetime.datetime,
) -> PersistCheck:
    """Whether the TXT `values` at `name`'s record name let `account_uri` issue for `name`
    (and, with `wildcard`, for `*.name`) at the CA known by `issuers`, as the CA would judge
    them; otherwise what is wrong."""
    records = [parse_record(value) for value in values]
    known = {issuer.lower() for issuer in issuers}  # domain names: case does not matter
    ours = [r for r in records if r.issuer in known]
    if not ours:
        elsewhere = sorted({r.issuer for r in records})
        return PersistCheck(
            name,
            None,
            f"no record for this CA ({', '.join(issuers)})"
            + (f"; there are records for {', '.join(elsewhere)}" if elsewhere else ""),
            kind="missing",
        )
    usable = [r for r in ours if r.problem is None]
    mine = [r for r in usable if r.account_uri == account_uri]
    others = tuple(r for r in usable if r.account_uri != account_uri)
    if not mine:
        if others:
            return PersistCheck(
                name,
                None,
                f"it is bound to another account ({others[0].account_uri}), not this one "
                f"({account_uri})",
                others,
                kind="other-account",
            )
        return PersistCheck(name, None, f"it is malformed: {ours[0].problem}", kind="malformed")
    current = [r for r in mine if r.until is None or r.until > now]
    if not current:
        ended = max(r.until for r in mine if r.until is not None)
        return PersistCheck(
            name, None, f"it ended at persistUntil {ended:%Y-%m-%d %H:%M} UTC", others, "ended"
        )
    if wildcard:
        broad = [r for r in current if r.wildcard]
        if not broad:
            return PersistCheck(
                name,
                current[0],
                f"it lacks policy=wildcard, which *.{name} needs",
                others,
                "no-wildcard",
            )
        current = broad
    # The record that lasts longest is the one that counts.
    best = max(current, key=lambda r: r.until or datetime.datetime.max.replace(tzinfo=UTC))
    return PersistCheck(name, best, None, others)
