"""DNS records: list, create, read, edit, overwrite, delete and batch, with the API's rules.

Validation, clash rules, proxying, the zone's record quota (81045) and tag quota (1004 with
9300 in its ``error_chain``), and the batch endpoint's order, all-or-nothing transaction and
per-plan limit.

A change made through the API reaches each nameserver after that nameserver's delay: a
record stores, per nameserver, when it starts (``visible_from``) and stops
(``hidden_from``) being served, and ``nameservers`` builds each server's view from those.

Does not: support record types other than A, AAAA, CNAME and TXT, import or export zone
files, scan for records, or return shadow metadata.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import dns.rdata

from acmecf.sandbox.dns_server import ServedRecord, rdata_for
from acmecf.sandbox.emulator.auth import zone_for
from acmecf.sandbox.emulator.envelope import (
    ApiError,
    Reply,
    dns_validation_error,
    envelope,
    first_parameter,
    json_object,
    paginate,
    timestamp,
)
from acmecf.sandbox.emulator.routes import UNKNOWN_TOKEN_AUTHENTICATION, ApiCall, Route
from acmecf.sandbox.emulator.state import Credential, Record, State, Zone, to_ascii, valid_hostname
from acmecf.sandbox.emulator.zones import PLANS, record_quota, tag_quota

SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "TXT")
PROXIABLE_TYPES = frozenset({"A", "AAAA", "CNAME"})
AUTOMATIC_TTL = 1
# Cloudflare's "automatic" TTL is 300 seconds, and proxied records are always served with it.
# https://developers.cloudflare.com/dns/manage-dns-records/reference/ttl/
AUTOMATIC_TTL_SECONDS = 300
# A proxied record is answered with Cloudflare anycast addresses instead of its content.
# https://developers.cloudflare.com/dns/proxy-status/
PROXY_ADDRESS_V4 = "104.16.132.229"
PROXY_ADDRESS_V6 = "2606:4700::6810:84e5"

# The API's own words, quoted from responses reported in public bug reports (see the
# functions for sources).
TXT_QUOTE_WARNING = (
    "The content field of TXT records must be in quotation marks. Cloudflare may add "
    "quotation marks on your behalf, which will not affect how the record works."
)
SAME_NAME_HELP = "https://developers.cloudflare.com/dns/manage-dns-records/troubleshooting/records-with-same-name/"


def record_json(state: State, record: Record) -> dict[str, Any]:
    """The record object as the API returns it."""
    # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/get/
    zone = state.zones[record.zone_id]
    body: dict[str, Any] = {
        "id": record.id,
        "zone_id": zone.id,
        "zone_name": zone.name,
        "name": record.name,
        "type": record.type,
        "content": record.content,
        "proxiable": record.type in PROXIABLE_TYPES,
        "proxied": record.proxied,
        "ttl": record.ttl,
        "locked": False,
        "settings": {"flatten_cname": False} if record.type == "CNAME" else {},
        "meta": {
            "auto_added": False,
            "managed_by_apps": False,
            "managed_by_argo_tunnel": False,
        },
        "comment": record.comment,
        "tags": list(record.tags),
        "created_on": record.created_on,
        "modified_on": record.modified_on,
    }
    if record.comment is not None:
        body["comment_modified_on"] = record.created_on
    return body


def new_record(
    state: State,
    zone: Zone,
    payload: Mapping[str, Any],
    *,
    visible_from: tuple[float, ...],
    existing: Iterable[Record] | None = None,
) -> Record:
    """Validate a create payload against the zone and build the record (not stored).

    ``existing`` are the zone's live records to check clashes against (the stored ones by
    default). Raises ApiError with the API's status and codes when the API would refuse it.
    """
    record_type = payload.get("type")
    if not isinstance(record_type, str) or record_type.upper() not in SUPPORTED_TYPES:
        # The emulator supports only the types acmecf uses; the real API supports more
        # and its wording for an unknown type is not verified.
        raise dns_validation_error(1004, f"Unsupported record type {record_type!r}.")
    record_type = record_type.upper()
    name = absolute_name(zone, payload.get("name"))
    if name in state.refused_names:  # an injected refusal (refuse_record_names)
        raise dns_validation_error(9000, "DNS name is invalid.")
    content = payload.get("content")
    ttl = payload.get("ttl", AUTOMATIC_TTL)
    if isinstance(ttl, float) and ttl.is_integer():
        ttl = int(ttl)  # JSON numbers such as 60.0 are fine
    proxied = payload.get("proxied", False)
    comment = payload.get("comment")
    tags = payload.get("tags") or []
    served_rdata = validate_content(record_type, name, content)
    content = cast(str, content)
    if record_type == "CNAME":
        content = to_ascii(content.strip()).rstrip(".").lower()
    # "TTL must be between 60 and 86400 seconds, or 1 for Automatic." inside 1004:
    # https://github.com/timothymiller/cloudflare-ddns/issues/179
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, int)
        or not (ttl == AUTOMATIC_TTL or 60 <= ttl <= 86400)
    ):
        raise dns_validation_error(
            9021, "TTL must be between 60 and 86400 seconds, or 1 for Automatic."
        )
    if not isinstance(proxied, bool):
        raise dns_validation_error(1004, "proxied must be a boolean.")
    # "Code 9004: This record type cannot be proxied." (quoted in public setup guides).
    if proxied and record_type not in PROXIABLE_TYPES:
        raise ApiError.single(400, 9004, "This record type cannot be proxied.")
    if comment is not None and not isinstance(comment, str):
        raise dns_validation_error(1004, "comment must be a string.")
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise dns_validation_error(1004, "tags must be strings.")
    quota = tag_quota(zone)
    if len(tags) > quota:
        # Quoted in https://github.com/cloudflare/terraform-provider-cloudflare/issues/3217
        raise dns_validation_error(
            9300, f"DNS record has {len(tags)} tags, exceeding the quota of {quota}."
        )
    records = state.live_records(zone.id) if existing is None else list(existing)
    check_conflicts(records, record_type, name, served_rdata)
    now = timestamp()
    return Record(
        id=uuid.uuid4().hex,
        zone_id=zone.id,
        name=name,
        type=record_type,
        content=content,
        proxied=proxied,
        ttl=ttl,
        comment=comment,
        tags=tuple(tags),
        created_on=now,
        modified_on=now,
        served=served(record_type, name, served_rdata, proxied=proxied, ttl=ttl),
        visible_from=visible_from,
    )


def absolute_name(zone: Zone, raw_name: Any) -> str:
    """The record name the API stores for ``raw_name`` in ``zone``; 1004/9000 when invalid."""
    # The API takes "@" for the apex and treats a name that does not end in the zone
    # name as relative to it ("www" and "www.other.org" become www[.other.org].<zone>).
    # https://developers.cloudflare.com/dns/manage-dns-records/how-to/create-dns-records/
    invalid = dns_validation_error(9000, "DNS name is invalid.")
    if not isinstance(raw_name, str):
        raise invalid
    name = to_ascii(raw_name.strip()).rstrip(".").lower()
    if name == "@":
        return zone.name
    if not name:
        raise invalid
    if name != zone.name and not name.endswith("." + zone.name):
        name = f"{name}.{zone.name}"
    if not valid_hostname(name, wildcard=True):
        raise invalid
    return name


def validate_content(record_type: str, name: str, content: Any) -> dns.rdata.Rdata:
    """The rdata DNS will serve for ``content``, or the API's error for invalid content."""
    if not isinstance(content, str) or (record_type != "TXT" and not content.strip()):
        raise dns_validation_error(1004, f"Content for {record_type} record is required.")
    # "Content for A record must be a valid IPv4 address." (9005), quoted in
    # https://github.com/yulewang/cloudflare-api-v4-ddns/issues/16; the AAAA
    # wording is its IPv6 twin (not verified).
    if record_type == "A":
        try:
            ipaddress.IPv4Address(content)
        except ValueError:
            raise ApiError.single(
                400, 9005, "Content for A record must be a valid IPv4 address."
            ) from None
    if record_type == "AAAA":
        try:
            ipaddress.IPv6Address(content)
        except ValueError:
            raise ApiError.single(
                400, 9006, "Content for AAAA record must be a valid IPv6 address."
            ) from None
    if record_type == "CNAME":
        target = to_ascii(content.strip()).rstrip(".").lower()
        if not valid_hostname(target):
            raise dns_validation_error(9007, "Content for CNAME record is invalid.")
        if target == name:
            raise ApiError.single(400, 9039, "CNAME content cannot reference itself.")
        content = target
    try:
        return rdata_for(record_type, content)
    except ValueError as error:
        raise dns_validation_error(1004, str(error)) from error


def check_conflicts(
    records: Iterable[Record], record_type: str, name: str, served_rdata: dns.rdata.Rdata
) -> None:
    """Raise the API's error when a record like this clashes with one of ``records``."""
    same_name = [record for record in records if record.name == name]
    for record in same_name:
        if (
            record.type == record_type
            and rdata_for(record.type, served_content(record)) == served_rdata
        ):
            # HTTP 400 {"code":81058,"message":"An identical record already exists."}:
            # https://github.com/jeessy2/ddns-go/issues/1378
            raise ApiError.single(400, 81058, "An identical record already exists.")
    # Only CNAME clashes are refused, and only with A, AAAA and CNAME records:
    # https://developers.cloudflare.com/dns/manage-dns-records/troubleshooting/records-with-same-name/
    # 81053 quoted in https://github.com/cloudflare/terraform-provider-cloudflare/issues/1247,
    # 81054 in https://github.com/favonia/cloudflare-ddns/issues/990.
    if record_type == "CNAME" and any(
        record.type in ("A", "AAAA", "CNAME") for record in same_name
    ):
        raise ApiError.single(
            400, 81053, "An A, AAAA, or CNAME record with that host already exists."
        )
    if record_type in ("A", "AAAA") and any(record.type == "CNAME" for record in same_name):
        raise ApiError.single(
            400,
            81054,
            "A CNAME record with that host already exists. "
            f"For more details, refer to <{SAME_NAME_HELP}>.",
        )


def served_content(record: Record) -> str:
    return record.content.strip().rstrip(".").lower() if record.type == "CNAME" else record.content


def served(
    record_type: str, name: str, rdata: dns.rdata.Rdata, *, proxied: bool, ttl: int
) -> tuple[ServedRecord, ...]:
    """What DNS serves for a record: its own rdata, or Cloudflare's addresses if proxied."""
    seconds = AUTOMATIC_TTL_SECONDS if proxied or ttl == AUTOMATIC_TTL else ttl
    if not proxied:
        return (ServedRecord(name=name, rdtype=record_type, ttl=seconds, rdata=rdata),)
    # A proxied name answers with Cloudflare's addresses, a proxied CNAME flattened to both.
    answers: list[ServedRecord] = []
    if record_type in ("A", "CNAME"):
        address = rdata_for("A", PROXY_ADDRESS_V4)
        answers.append(ServedRecord(name=name, rdtype="A", ttl=seconds, rdata=address))
    if record_type in ("AAAA", "CNAME"):
        address6 = rdata_for("AAAA", PROXY_ADDRESS_V6)
        answers.append(ServedRecord(name=name, rdtype="AAAA", ttl=seconds, rdata=address6))
    return tuple(answers)


def dns_zone(state: State, credential: Credential, call: ApiCall, *, edit: bool) -> Zone:
    """The zone for a DNS records call, or 403 10000 when the token may not do it.

    "Authentication error" (10000) is what a token without DNS access to the zone gets
    (https://github.com/cloudflare/terraform-provider-cloudflare/issues/3292); a token
    with DNS read but not edit gets "<METHOD> method not allowed for the api_token
    authentication scheme" (https://github.com/fire1ce/DDNS-Cloudflare-Bash/issues/3).
    """
    denied = ApiError.single(403, 10000, "Authentication error")
    zone = zone_for(state, credential, call.params["zone_id"], call.path, denied=denied)
    token = credential.token
    if token is None:
        return zone
    if not (token.dns_read or token.dns_edit):
        raise denied
    if edit and not token.dns_edit:
        raise ApiError.single(
            403,
            10000,
            f"{call.method} method not allowed for the api_token authentication scheme",
        )
    return zone


def record_missing() -> ApiError:
    # 404 {"code":81044,"message":"Record does not exist."}: quoted in
    # https://github.com/zanjie1999/cloudflare-api-v4-ddns/issues/5 (status as in client fakes).
    return ApiError.single(404, 81044, "Record does not exist.")


def check_record_quota(zone: Zone, count: int) -> None:
    """400 81045 when a zone holding ``count`` records may hold no more."""
    # {"code":81045,"message":"Record quota exceeded."} (HTTP 400), as public clients
    # report and fake it (e.g. https://github.com/ZoneABC/ZoneABC/issues/30 for the text).
    if count >= record_quota(zone):
        raise ApiError.single(400, 81045, "Record quota exceeded.")


def _payload_of(record: Record) -> dict[str, Any]:
    return {
        "type": record.type,
        "name": record.name,
        "content": record.content,
        "proxied": record.proxied,
        "ttl": record.ttl,
        "comment": record.comment,
        "tags": list(record.tags),
    }


def updated_record(
    state: State,
    zone: Zone,
    current: Record,
    payload: Mapping[str, Any],
    *,
    overwrite: bool,
    existing: Iterable[Record],
    visible_from: tuple[float, ...],
) -> Record:
    """The new version of ``current`` (same id) after a PATCH, or a PUT if ``overwrite``.

    A PATCH keeps every field it does not name; a PUT gives unnamed fields their defaults
    ("This operation works as an overwrite, so all fields in a given record are always
    affected": https://developers.cloudflare.com/dns/manage-dns-records/how-to/batch-record-changes/).
    Clashes are checked against ``existing`` without ``current`` itself.
    """
    merged = dict(payload) if overwrite else {**_payload_of(current), **payload}
    merged.pop("id", None)
    others = [record for record in existing if record.id != current.id]
    version = new_record(state, zone, merged, visible_from=visible_from, existing=others)
    version.id = current.id
    version.created_on = current.created_on
    version.previous = current
    return version


def request_payload(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body, or 400 9207 (wording not verified)."""
    return json_object(body)


def txt_messages(record: Record) -> list[dict[str, Any]]:
    """The warning the API adds for TXT content without quotes."""
    if record.type == "TXT" and not record.content.strip().startswith('"'):
        # Cloudflare accepts bare TXT content and serves it unchanged, but flags it
        # with this text (dashboard wording, DNSControl issue 3621; the code is ours).
        return [{"code": 0, "message": TXT_QUOTE_WARNING, "type": "warning"}]
    return []


# --------------------------------------------------------------------------- endpoints


# https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/
def list_records(state: State, call: ApiCall) -> Reply:
    zone = dns_zone(state, call.credential, call, edit=False)
    query = call.query
    checks = record_filters(query)
    match_any = first_parameter(query, "match", "all") == "any"
    search = first_parameter(query, "search").lower()
    selected = [
        record
        for record in state.live_records(zone.id)
        if (not checks or (any if match_any else all)(check(record) for check in checks))
        and (not search or search in record.name or search in record.content.lower())
    ]
    order = first_parameter(query, "order")
    descending = first_parameter(query, "direction", "asc") == "desc"
    selected.sort(key=record_sort_key(order), reverse=descending)
    # per_page: default 100, minimum 1, maximum 5,000,000 (API schema dns-records_per_page).
    page, info = paginate(selected, query, default=100, minimum=1, maximum=5_000_000)
    items = [record_json(state, record) for record in page]
    return Reply(200, envelope(items, result_info=info))


# https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/create/
def create_record(state: State, call: ApiCall) -> Reply:
    zone = dns_zone(state, call.credential, call, edit=True)
    payload = request_payload(call.body)
    record = new_record(
        state, zone, payload, visible_from=state.propagation_times(time.monotonic())
    )
    check_record_quota(zone, len(state.live_records(zone.id)))
    state.store_record(record)
    return Reply(200, envelope(record_json(state, record), messages=txt_messages(record)))


def _stored_record(state: State, zone: Zone, record_id: str) -> Record:
    record = state.records.get(record_id)
    if record is None or record.deleted or record.zone_id != zone.id:
        raise record_missing()
    return record


# https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/get/
def get_record(state: State, call: ApiCall) -> Reply:
    zone = dns_zone(state, call.credential, call, edit=False)
    record = _stored_record(state, zone, call.params["record_id"])
    return Reply(200, envelope(record_json(state, record)))


# https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/delete/
def delete_record(state: State, call: ApiCall) -> Reply:
    zone = dns_zone(state, call.credential, call, edit=True)
    record = _stored_record(state, zone, call.params["record_id"])
    state.delete_record(record, state.propagation_times(time.monotonic()))
    return Reply(200, envelope({"id": record.id}))


def _update(state: State, call: ApiCall, *, overwrite: bool) -> Reply:
    zone = dns_zone(state, call.credential, call, edit=True)
    current = _stored_record(state, zone, call.params["record_id"])
    version = updated_record(
        state,
        zone,
        current,
        request_payload(call.body),
        overwrite=overwrite,
        existing=state.live_records(zone.id),
        visible_from=state.propagation_times(time.monotonic()),
    )
    state.store_record(version)
    return Reply(200, envelope(record_json(state, version), messages=txt_messages(version)))


# https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/edit/
def edit_record(state: State, call: ApiCall) -> Reply:
    return _update(state, call, overwrite=False)


# https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/update/
def overwrite_record(state: State, call: ApiCall) -> Reply:
    return _update(state, call, overwrite=True)


BATCH_ARRAYS = ("deletes", "patches", "puts", "posts")
"""The four arrays of a batch, in the order the API executes them."""


def batch_limit_exceeded(total: int, zone: Zone) -> ApiError:
    """What the emulator answers a batch over the plan's limit.

    The limits are documented (Free 200, paid plans 3,500:
    https://developers.cloudflare.com/dns/manage-dns-records/how-to/batch-record-changes/);
    the code and wording of the refusal are not, so this 1004 is not verified.
    """
    limit = PLANS[zone.plan].batch_limit
    return dns_validation_error(
        1004,
        f"Batch of {total} changes exceeds the limit of {limit} for a zone on the "
        f"{zone.plan} plan.",
    )


# https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/batch/
def batch_records(state: State, call: ApiCall) -> Reply:
    """Deletes, patches, puts, posts, in that order, in one transaction.

    "Within each of these four lists, each individual action is executed following the
    DNS records order you provide. If any of the individual action fails, no changes are
    applied and the API returns the first error it encountered." Propagation is per
    change, not atomic, as the docs warn; every change of one batch reaches each
    nameserver after that nameserver's delay.
    https://developers.cloudflare.com/dns/manage-dns-records/how-to/batch-record-changes/
    """
    zone = dns_zone(state, call.credential, call, edit=True)
    payload = request_payload(call.body)
    arrays: dict[str, list[dict[str, Any]]] = {}
    for key in BATCH_ARRAYS:
        items = payload.get(key) or []
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ApiError.single(400, 9207, "Request body is invalid.")  # wording not verified
        arrays[key] = items
    total = sum(len(items) for items in arrays.values())
    if total > PLANS[zone.plan].batch_limit:
        raise batch_limit_exceeded(total, zone)
    visible_from = state.propagation_times(time.monotonic())
    working = {record.id: record for record in state.live_records(zone.id)}
    deleted: list[Record] = []
    for item in arrays["deletes"]:
        record = working.pop(str(item.get("id")), None)
        if record is None:
            raise record_missing()
        deleted.append(record)
    changed: dict[str, list[Record]] = {"patches": [], "puts": []}
    for key in ("patches", "puts"):
        for item in arrays[key]:
            current = working.get(str(item.get("id")))
            if current is None:
                raise record_missing()
            version = updated_record(
                state,
                zone,
                current,
                item,
                overwrite=key == "puts",
                existing=working.values(),
                visible_from=visible_from,
            )
            working[version.id] = version
            changed[key].append(version)
    posted: list[Record] = []
    for item in arrays["posts"]:
        check_record_quota(zone, len(working))
        record = new_record(state, zone, item, visible_from=visible_from, existing=working.values())
        working[record.id] = record
        posted.append(record)
    # Every change was accepted: apply them all.
    for record in deleted:
        state.delete_record(record, visible_from)
    for record in (*changed["patches"], *changed["puts"], *posted):
        state.store_record(record)
    result = {
        "deletes": [record_json(state, record) for record in deleted],
        "patches": [record_json(state, record) for record in changed["patches"]],
        "puts": [record_json(state, record) for record in changed["puts"]],
        "posts": [record_json(state, record) for record in posted],
    }
    return Reply(200, envelope(result))


# --------------------------------------------------------------------------- list filters


def record_filters(query: Mapping[str, list[str]]) -> list[Callable[[Record], bool]]:
    """The list filters in ``query`` (type, name[.op], content[.op], comment[.op], proxied)."""
    checks: list[Callable[[Record], bool]] = []
    for key, values in query.items():
        wanted = values[0] if values else ""
        field_name, _, operator = key.partition(".")
        if key == "type":
            checks.append(_type_check(wanted.upper()))
        elif key == "proxied":
            checks.append(_proxied_check(wanted.lower() == "true"))
        elif key in ("comment.present", "comment.absent"):
            checks.append(_comment_presence_check(present=key == "comment.present"))
        elif field_name in _TEXT_FIELDS and operator in _TEXT_OPERATORS:
            if field_name == "name":
                wanted = to_ascii(wanted.strip()).rstrip(".")
            checks.append(_text_check(_TEXT_FIELDS[field_name], operator or "exact", wanted))
    return checks


_TEXT_FIELDS: dict[str, Callable[[Record], str]] = {
    "name": lambda record: record.name,
    "content": lambda record: record.content,
    "comment": lambda record: record.comment or "",
}
_TEXT_OPERATORS = ("", "exact", "contains", "startswith", "endswith")


def text_matches(value: str, operator: str, wanted: str) -> bool:
    # Name, content and comment filters are case-insensitive (SDK RecordListParams docs).
    value, wanted = value.lower(), wanted.lower()
    if operator == "exact":
        return value == wanted
    if operator == "contains":
        return wanted in value
    if operator == "startswith":
        return value.startswith(wanted)
    if operator == "endswith":
        return value.endswith(wanted)
    return True


def _type_check(wanted: str) -> Callable[[Record], bool]:
    return lambda record: record.type == wanted


def _proxied_check(wanted: bool) -> Callable[[Record], bool]:
    return lambda record: record.proxied == wanted


def _comment_presence_check(*, present: bool) -> Callable[[Record], bool]:
    return lambda record: (record.comment is not None) == present


def _text_check(
    getter: Callable[[Record], str], operator: str, wanted: str
) -> Callable[[Record], bool]:
    return lambda record: text_matches(getter(record), operator, wanted)


def record_sort_key(order: str) -> Callable[[Record], tuple[Any, ...]]:
    if order == "name":
        return lambda record: (record.name, record.type, record.content)
    if order == "content":
        return lambda record: (record.content, record.name)
    if order == "ttl":
        return lambda record: (record.ttl, record.name)
    if order == "proxied":
        return lambda record: (record.proxied, record.name)
    # Default (and "type"): by type, then name, then content (real default not documented).
    return lambda record: (record.type, record.name, record.content)


_RECORDS_DOC = "https://developers.cloudflare.com/api/resources/dns/subresources/records/methods"
ROUTES = [
    Route(
        "GET",
        "/zones/{zone_id:id}/dns_records",
        list_records,
        doc=f"{_RECORDS_DOC}/list/",
        unknown_token=UNKNOWN_TOKEN_AUTHENTICATION,
    ),
    Route(
        "POST",
        "/zones/{zone_id:id}/dns_records",
        create_record,
        doc=f"{_RECORDS_DOC}/create/",
        unknown_token=UNKNOWN_TOKEN_AUTHENTICATION,
    ),
    Route(
        "POST",
        "/zones/{zone_id:id}/dns_records/batch",
        batch_records,
        doc=f"{_RECORDS_DOC}/batch/",
        unknown_token=UNKNOWN_TOKEN_AUTHENTICATION,
    ),
    Route(
        "PATCH",
        "/zones/{zone_id:id}/dns_records/{record_id:id}",
        edit_record,
        doc=f"{_RECORDS_DOC}/edit/",
        unknown_token=UNKNOWN_TOKEN_AUTHENTICATION,
    ),
    Route(
        "PUT",
        "/zones/{zone_id:id}/dns_records/{record_id:id}",
        overwrite_record,
        doc=f"{_RECORDS_DOC}/update/",
        unknown_token=UNKNOWN_TOKEN_AUTHENTICATION,
    ),
    Route(
        "GET",
        "/zones/{zone_id:id}/dns_records/{record_id:id}",
        get_record,
        doc=f"{_RECORDS_DOC}/get/",
        unknown_token=UNKNOWN_TOKEN_AUTHENTICATION,
    ),
    Route(
        "DELETE",
        "/zones/{zone_id:id}/dns_records/{record_id:id}",
        delete_record,
        doc=f"{_RECORDS_DOC}/delete/",
        unknown_token=UNKNOWN_TOKEN_AUTHENTICATION,
    ),
]
