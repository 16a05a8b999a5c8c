"""Walk what clients get wrong: each gets a 4xx in the contract's shape, never a 500."""

import json

import pytest

from catalog.models import Farm, Product
from server.accounts.models import User

pytestmark = pytest.mark.django_db

TEN_MB = 10 * 1024 * 1024


def assert_contract_error(reply, status: int, code: str) -> dict:
    assert reply.status_code == status, (reply.status_code, reply.content[:300])
    assert reply["Content-Type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in reply.content.decode()
    return body["error"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": "Hill"}, "province"),
        (
            {"name": "Hill", "province": "Nan", "district": "Pua", "households": "many"},
            "households",
        ),
        ({"name": "Hill", "province": "Nan", "district": "Pua", "households": 0}, "households"),
        ({"name": "Hill", "province": "Nan", "district": "Pua", "households": -3}, "households"),
        ({"name": ["a"], "province": "Nan", "district": "Pua"}, "name"),
        ({"name": "x" * 121, "province": "Nan", "district": "Pua"}, "name"),
        (
            {"name": "Hill", "province": "Nan", "district": "Pua", "poverty_county": "maybe"},
            "poverty_county",
        ),
    ],
)
def test_farm_validation(client_for, host, payload, field):
    error = assert_contract_error(
        client_for(host).post("/api/farms/", payload, format="json"), 400, "invalid"
    )
    assert field in error["fields"]
    assert not Farm.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "-1.00"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": "1e400"}, "price"),
        ({"stock": -5}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"stock": "lots"}, "stock"),
        ({"stock": 10**30}, "stock"),
        ({"farm": "abc"}, "farm"),
        ({"farm": 999999}, "farm"),
        ({"currency": "XYZ"}, "currency"),
        ({"harvested_on": "yesterday"}, "harvested_on"),
        ({"name": None}, "name"),
    ],
)
def test_product_validation(client_for, host, farm, change, field):
    payload = {"farm": farm.pk, "name": "Mango", "price": "10.00", "stock": 1, **change}
    error = assert_contract_error(
        client_for(host).post("/api/products/", payload, format="json"), 400, "invalid"
    )
    assert field in error["fields"]
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    "body",
    [b"{", b"not json", b'{"name": "x",}', b"[1, 2", b"\xff\xfe\x00", b'{"price": NaN}'],
)
def test_malformed_json(client_for, host, body):
    reply = client_for(host).post("/api/farms/", data=body, content_type="application/json")
    assert_contract_error(reply, 400, "invalid")


@pytest.mark.parametrize("body", [b"[]", b'"a string"', b"42", b"null"])
def test_json_that_is_not_an_object(client_for, host, body):
    reply = client_for(host).post("/api/farms/", data=body, content_type="application/json")
    assert_contract_error(reply, 400, "invalid")


def test_ten_megabyte_body_is_refused_unread(client_for, host):
    body = json.dumps({"name": "x" * TEN_MB, "province": "Nan", "district": "Pua"})
    reply = client_for(host).post("/api/farms/", data=body, content_type="application/json")
    error = assert_contract_error(reply, 413, "invalid")
    assert error["max_bytes"] == 1024 * 1024
    assert not Farm.objects.exists()


def test_unsupported_media_type(client_for, host):
    reply = client_for(host).post("/api/farms/", data="name=x", content_type="text/plain")
    assert_contract_error(reply, 415, "invalid")


@pytest.mark.parametrize(
    "path",
    [
        "/api/farms/abc/",
        "/api/products/1e3/",
        "/api/farms/-1/",
        "/api/farms/99999999/",
        "/api/sessions/abc/",
        "/api/nothing-here/",
        "/api/farms/999999999999999999999999/",
    ],
)
def test_unknown_and_non_numeric_ids(api, path):
    assert_contract_error(api.get(path), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/products/%00/", "/api/farms/?province=Nan%00"])
def test_nul_characters_in_url(api, path):
    assert_contract_error(api.get(path), 400, "invalid")


def test_non_numeric_filter(api):
    error = assert_contract_error(api.get("/api/products/?farm=abc"), 400, "invalid")
    assert "farm" in error["fields"]


def test_bad_page_number(api, farm):
    assert_contract_error(api.get("/api/farms/?page=abc"), 404, "not_found")
    assert_contract_error(api.get("/api/farms/?page=999"), 404, "not_found")


def test_method_not_allowed(client_for, host, farm):
    reply = client_for(host).delete(f"/api/farms/{farm.pk}/")
    assert_contract_error(reply, 405, "invalid")
    assert Farm.objects.filter(pk=farm.pk).exists()


@pytest.mark.parametrize(
    ("username", "works"),
    [
        ("a" * 300, False),
        ("a" * 150, True),
        ("สมชาย", True),
        ("ผู้ใหญ่บ้าน", True),
        ("李小龙", True),
        ("farmer🌾", False),
        ("two words", False),
        ("", False),
        ("drop table;--", False),
    ],
)
def test_usernames(api, username, works):
    reply = api.post(
        "/api/auth/register/",
        {"username": username, "password": "a-Strong-passw0rd"},
        format="json",
    )
    if works:
        assert reply.status_code == 201, reply.json()
        assert User.objects.get().username == username
    else:
        assert "username" in assert_contract_error(reply, 400, "invalid")["fields"]
        assert not User.objects.exists()


def test_thai_chinese_and_emoji_text_round_trips(client_for, host):
    farm = {
        "name": "สวนลำไย 龙眼园 🍯",
        "story": "น้ำผึ้งแท้ 100% จากดอกลำไย 🐝 — 纯正龙眼蜂蜜",
        "province": "ลำพูน",
        "district": "เมือง",
    }
    reply = client_for(host).post("/api/farms/", farm, format="json")
    assert reply.status_code == 201, reply.json()
    stored = Farm.objects.get()
    assert (stored.name, stored.story, stored.province) == (
        farm["name"],
        farm["story"],
        farm["province"],
    )


def test_wrong_types_for_credentials(api):
    assert_contract_error(
        api.post("/api/auth/token/", {"username": ["x"], "password": 1}, format="json"),
        400,
        "invalid",
    )
    assert_contract_error(
        api.post("/api/auth/register/", {"username": {"a": 1}}, format="json"), 400, "invalid"
    )


def test_bad_content_length_header(client_for, host):
    reply = client_for(host).post(
        "/api/farms/", data=b"{}", content_type="application/json", CONTENT_LENGTH="abc"
    )
    assert_contract_error(reply, 400, "invalid")


# --- hostile JSON on every JSON endpoint, signed in or not ------------------------------

HOSTILE_BODIES = [
    b'{"price": 1e9999999999999999999}',
    b'{"product": 1e9999999999999999999, "live_price": 1e-9999999999999999999}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"[" * 40 + b"]" * 40,
    b'{"username": "' + b"9" * 5000 + b'"}',
    b'{"stock": ' + b"9" * 5000 + b"}",
    b'{"value": -Infinity}',
    b'{"name": "\\ud800", "username": "\\udfff", "text": "x"}',
]


@pytest.fixture
def endpoints(host, farm, product):
    """The JSON endpoints that take a body, with a session and a campaign to act on."""
    from datetime import timedelta

    from django.utils import timezone

    from coupons import services as coupons
    from streams import services as streams

    now = timezone.now()
    session = streams.session_create(
        host=host, farm=farm, title="Live", now=now, scheduled_at=now + timedelta(hours=1)
    )
    streams.session_start(session=session, actor=host, now=now)
    paths = [
        "/api/auth/register/",
        "/api/auth/token/",
        "/api/farms/",
        "/api/products/",
        f"/api/sessions/{session.pk}/showcase/",
        f"/api/sessions/{session.pk}/pin/",
        f"/api/sessions/{session.pk}/drops/",
        "/api/campaigns/",
    ]
    assert coupons  # campaigns and drops are created through these same endpoints
    return paths


@pytest.mark.parametrize("signed_in", [True, False])
@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=lambda b: repr(b[:24]))
def test_hostile_json_is_invalid_on_every_endpoint(
    api, client_for, host, endpoints, signed_in, body
):
    client = client_for(host) if signed_in else api
    for path in endpoints:
        reply = client.post(path, data=body, content_type="application/json")
        if not signed_in and reply.status_code == 401:  # refused before the body is read
            assert_contract_error(reply, 401, "not_authenticated")
            continue
        assert_contract_error(reply, 400, "invalid")


@pytest.mark.parametrize("product_id", [2**63, 2**63 - 1 + 10, 10**30, -1, 0])
def test_pin_ids_past_the_database_range_are_invalid(client_for, host, endpoints, product_id):
    pin = next(p for p in endpoints if p.endswith("/pin/"))
    reply = client_for(host).post(pin, {"product": product_id}, format="json")
    assert "product" in assert_contract_error(reply, 400, "invalid")["fields"]


def test_the_largest_bigint_pin_is_simply_not_found(client_for, host, endpoints):
    pin = next(p for p in endpoints if p.endswith("/pin/"))
    reply = client_for(host).post(pin, {"product": 2**63 - 1}, format="json")
    assert_contract_error(reply, 404, "not_found")


def json_values():
    from hypothesis import strategies as st

    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**40), max_value=10**40)
        | st.decimals(allow_nan=False, allow_infinity=False).map(str)
        | st.text(max_size=40)
        | st.sampled_from(["\x00", "1e400", "NaN", "-0", "9" * 30, "\u202e", "🥭"])
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
        max_leaves=10,
    )


def test_fuzzed_json_bodies_are_never_a_server_error(client_for, host, endpoints):
    """Whatever JSON arrives, each endpoint answers 2xx or a 4xx in the contract's shape."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    client = client_for(host)
    fields = ["username", "password", "name", "price", "stock", "farm", "product", "live_price",
              "allotment", "campaign", "quantity", "duration_s", "kind", "value", "budget",
              "farms", "products", "sessions", "unit", "currency"]  # fmt: skip
    body = st.one_of(
        st.dictionaries(st.sampled_from(fields), json_values(), max_size=8),
        json_values(),
    )
    raw_numbers = st.sampled_from(["1e9999999999999999999", "-1e-99999", "1" * 80, "1.5e308"])

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(path=st.sampled_from(endpoints), payload=body, number=raw_numbers, raw=st.booleans())
    def check(path, payload, number, raw):
        data = json.dumps(payload, default=str)
        if raw:  # a literal number JSON allows and Python's types do not hold
            data = json.dumps({"price": 0, "product": 0}).replace("0", number, 1)
        reply = client.post(path, data=data, content_type="application/json")
        assert reply.status_code < 500, (path, data[:300], reply.content[:300])
        if reply.status_code >= 400:
            assert reply.json()["error"]["code"] in {
                "invalid", "not_authenticated", "forbidden", "not_found", "conflict",
                "rate_limited", "coupon_not_applicable",
            }  # fmt: skip
            assert reply.json()["error"]["message"]

    check()
