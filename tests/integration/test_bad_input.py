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
