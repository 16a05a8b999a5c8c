"""Farms and products over HTTP: anyone reads, only the owning host writes."""

from decimal import Decimal
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.models import Farm, Product

pytestmark = pytest.mark.django_db

FARM = {
    "name": "ไร่ภูฟ้า Phu Fa Farm",
    "story": "Shade-grown arabica 🌱☕",
    "province": "Nan",
    "district": "Bo Kluea",
    "village": "Ban Sakad",
    "poverty_county": True,
    "county_code": "TH-5515",
    "households": 42,
    "cooperative": "Bo Kluea Growers",
}


def test_host_creates_farm_and_product_over_http(api, client_for):
    # given a host registered over HTTP
    reg = api.post(
        "/api/auth/register/",
        {"username": "malee", "password": "a-Strong-passw0rd", "role": "host"},
        format="json",
    ).json()
    api.credentials(HTTP_AUTHORIZATION=f"Token {reg['token']}")
    # when
    farm = api.post("/api/farms/", FARM, format="json")
    assert farm.status_code == 201, farm.json()
    product = api.post(
        "/api/products/",
        {
            "farm": farm.json()["id"],
            "name": "Arabica 250 g",
            "unit": "bag",
            "price": "260.00",
            "stock": 200,
            "harvested_on": "2026-10-01",
        },
        format="json",
    )
    # then
    assert product.status_code == 201, product.json()
    body = product.json()
    assert body["price"] == "260.00"
    assert body["currency"] == "THB"
    assert body["stock"] == 200
    assert farm.json()["owner"] == reg["id"]
    assert farm.json()["poverty_county"] is True
    assert farm.json()["verified"] is False
    # and anyone can read them
    anonymous = client_for(None)
    listed = anonymous.get("/api/products/", {"farm": farm.json()["id"]}).json()
    assert listed["count"] == 1
    assert listed["results"][0]["name"] == "Arabica 250 g"
    assert anonymous.get(f"/api/farms/{farm.json()['id']}/").json()["name"] == FARM["name"]


def test_price_sent_as_json_number_stays_exact(client_for, host, farm):
    reply = client_for(host).post(
        "/api/products/",
        data=b'{"farm": %d, "name": "Rice", "price": 12.10, "stock": 1}' % farm.pk,
        content_type="application/json",
    )
    assert reply.status_code == 201, reply.json()
    assert reply.json()["price"] == "12.10"
    assert Product.objects.get().price == Decimal("12.10")


def test_viewer_cannot_create_a_farm_or_a_product(client_for, viewer, farm):
    client = client_for(viewer)
    farm_reply = client.post("/api/farms/", FARM, format="json")
    assert farm_reply.status_code == 403
    assert farm_reply.json()["error"]["code"] == "forbidden"
    product_reply = client.post(
        "/api/products/", {"farm": farm.pk, "name": "x", "price": "1.00"}, format="json"
    )
    assert product_reply.status_code == 403
    assert product_reply.json()["error"]["code"] == "forbidden"
    assert Farm.objects.count() == 1
    assert not Product.objects.exists()


def test_another_host_cannot_edit(client_for, make_user, farm, product):
    intruder = client_for(make_user("host"))
    reply = intruder.patch(f"/api/products/{product.pk}/", {"price": "1.00"}, format="json")
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "forbidden"
    farm_reply = intruder.patch(f"/api/farms/{farm.pk}/", {"name": "mine"}, format="json")
    assert farm_reply.status_code == 403
    product.refresh_from_db()
    farm.refresh_from_db()
    assert product.price == Decimal("89.50")
    assert farm.name == "Ban Rai Mango Garden"


def test_owner_edits_product_but_not_its_farm(client_for, host, product, make_user):
    other_farm_owner = make_user("host")
    from catalog.services import farm_create

    other = farm_create(owner=other_farm_owner, name="Other", province="Nan", district="Pua")
    own_farm = product.farm_id
    reply = client_for(host).patch(
        f"/api/products/{product.pk}/",
        {"price": "95.25", "stock": 12, "farm": other.pk},
        format="json",
    )
    assert reply.status_code == 200, reply.json()
    product.refresh_from_db()
    assert (product.price, product.stock) == (Decimal("95.25"), 12)
    assert product.farm_id == own_farm


def test_anonymous_write_is_not_authenticated(api, farm):
    reply = api.post("/api/farms/", FARM, format="json")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "not_authenticated"


def test_product_photo_upload(client_for, host, product, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    buffer = BytesIO()
    Image.new("RGB", (64, 48), (240, 180, 20)).save(buffer, format="PNG")
    photo = SimpleUploadedFile("mango.png", buffer.getvalue(), content_type="image/png")
    reply = client_for(host).patch(
        f"/api/products/{product.pk}/", {"photo": photo}, format="multipart"
    )
    assert reply.status_code == 200, reply.json()
    assert reply.json()["photo"].endswith(".png")
    not_an_image = SimpleUploadedFile("x.png", b"not a picture", content_type="image/png")
    bad = client_for(host).patch(
        f"/api/products/{product.pk}/", {"photo": not_an_image}, format="multipart"
    )
    assert bad.status_code == 400
    assert "photo" in bad.json()["error"]["fields"]


def test_farm_filters(client_for, farm, make_user):
    from catalog.services import farm_create

    poor = farm_create(
        owner=make_user("host"),
        name="Hill",
        province="Nan",
        district="Bo Kluea",
        poverty_county=True,
        households=9,
    )
    client = client_for(None)
    assert [f["id"] for f in client.get("/api/farms/?poverty_county=true").json()["results"]] == [
        poor.pk
    ]
    assert [f["id"] for f in client.get("/api/farms/?province=Chachoengsao").json()["results"]] == [
        farm.pk
    ]


def test_api_times_are_utc(client_for, farm):
    created = client_for(None).get(f"/api/farms/{farm.pk}/").json()["created_at"]
    assert created.endswith("Z")


def test_product_photo_is_reencoded_without_exif_and_bounded(
    client_for, host, product, settings, tmp_path
):
    # given a phone photo: 3000 x 1000 px, rotated by its EXIF orientation, with a GPS position
    settings.MEDIA_ROOT = tmp_path
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (18.0, 47.0, 0.0)}  # GPS latitude
    buffer = BytesIO()
    Image.new("RGB", (3000, 1000), (40, 160, 60)).save(buffer, format="JPEG", exif=exif)
    photo = SimpleUploadedFile("IMG_0001.jpg", buffer.getvalue(), content_type="image/jpeg")
    # when
    reply = client_for(host).patch(
        f"/api/products/{product.pk}/", {"photo": photo}, format="multipart"
    )
    # then the stored picture is upright, at most 2048 px a side, with no metadata at all
    assert reply.status_code == 200, reply.json()
    product.refresh_from_db()
    assert "IMG_0001" not in product.photo.name
    with Image.open(product.photo.path) as stored:
        assert stored.format == "JPEG"
        assert stored.size == (683, 2048)
        assert not stored.getexif()
        assert "exif" not in stored.info


def test_product_photo_refuses_a_decompression_bomb(client_for, host, product, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    buffer = BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")  # 100 Mpx in a few KB
    photo = SimpleUploadedFile("bomb.png", buffer.getvalue(), content_type="image/png")
    reply = client_for(host).patch(
        f"/api/products/{product.pk}/", {"photo": photo}, format="multipart"
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid"
    assert "photo" in reply.json()["error"]["fields"]
    product.refresh_from_db()
    assert not product.photo
