"""The demo seed makes what the README promises, once."""

import pytest
from django.core.management import call_command

from catalog.models import Farm, Product
from server.accounts.models import User
from streams.models import LiveSession

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        Farm.objects.count(),
        Product.objects.count(),
        LiveSession.objects.count(),
    )


def test_seed_is_complete_and_idempotent(capsys):
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first == (5, 2, 4, 3)
    assert Farm.objects.filter(poverty_county=True).count() == 1
    assert set(User.objects.filter(is_host=True).values_list("username", flat=True)) == {
        "somchai",
        "malee",
    }
    assert User.objects.filter(is_promoter=True).count() == 1
    assert LiveSession.objects.filter(status="scheduled").count() == 2
    # and one session is live with a showcase whose allotments came out of stock
    live = LiveSession.objects.get(status="live")
    assert live.host.username == "somchai"
    items = {i.product.unit: (i.allotment, i.left, i.product.stock) for i in live.showcase.all()}
    assert items == {"box": (40, 40, 260), "bottle": (20, 20, 100)}
    printed = capsys.readouterr().out
    assert "mango-season-2026" in printed and "watch-and-buy-2026" in printed
    assert User.objects.get(username="nok").check_password("watch-and-buy-2026")
