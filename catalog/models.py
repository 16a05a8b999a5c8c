"""Farms (who sells, and where from) and their products (what, how much, how many)."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Currency(models.TextChoices):
    THB = "THB", "Thai baht"
    CNY = "CNY", "Chinese yuan"
    USD = "USD", "US dollar"


class Farm(models.Model):
    """A seller. Origin (province, district, poverty county, households) is shown to buyers
    and drives the impact report: how much reached farm households, and where."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="farms"
    )
    name = models.CharField(_("name"), max_length=120)
    story = models.TextField(_("story"), blank=True, max_length=5000)
    province = models.CharField(_("province"), max_length=100)
    district = models.CharField(_("district"), max_length=100)
    village = models.CharField(_("village"), max_length=100, blank=True)
    poverty_county = models.BooleanField(
        _("designated poverty county"),
        default=False,
        help_text=_("The farm lies in a county on a poverty-alleviation programme's list."),
    )
    county_code = models.CharField(_("county code"), max_length=20, blank=True)
    households = models.PositiveIntegerField(
        _("households"), default=1, help_text=_("Farm households whose income this farm is.")
    )
    cooperative = models.CharField(_("cooperative"), max_length=120, blank=True)
    verified = models.BooleanField(
        _("verified by staff"), default=False, help_text=_("Staff checked origin and payout.")
    )
    shipping_fee = models.DecimalField(
        _("shipping fee"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        help_text=_("Charged once per order, whatever it holds; no coupon discounts it."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(households__gte=1), name="farm_households_gte_1"),
            models.CheckConstraint(
                condition=Q(shipping_fee__gte=Decimal("0")), name="farm_shipping_fee_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.province})"


class Product(models.Model):
    farm = models.ForeignKey(Farm, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True, max_length=10000)
    unit = models.CharField(_("unit"), max_length=20, default="kg", help_text=_("kg, box, bag..."))
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2)
    currency = models.CharField(
        _("currency"), max_length=3, choices=Currency.choices, default=Currency.THB
    )
    stock = models.PositiveIntegerField(_("units in stock"), default=0)
    photo = models.ImageField(_("photo"), upload_to="products/%Y/%m/", blank=True)
    harvested_on = models.DateField(_("harvest date"), null=True, blank=True)
    ships_by = models.DateField(_("ships by"), null=True, blank=True)
    is_active = models.BooleanField(_("on sale"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gte=Decimal("0")), name="product_price_gte_0"
            ),
            models.CheckConstraint(condition=Q(stock__gte=0), name="product_stock_gte_0"),
        ]

    def __str__(self) -> str:
        return self.name
