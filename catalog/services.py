"""Catalogue writes. Each raises ``NotAHost`` / ``NotFarmOwner`` (403 ``forbidden``)."""

from typing import Any

from catalog.errors import NotAHost, NotFarmOwner
from catalog.models import Farm, Product
from catalog.photos import photo_clean
from server.accounts.models import User


def _require_owner(*, farm: Farm, actor: User) -> None:
    if not (actor.is_staff or farm.owner_id == actor.pk):
        raise NotFarmOwner("Only this farm's host may change it.")


def farm_create(*, owner: User, **fields: Any) -> Farm:
    if not (owner.is_host or owner.is_staff):
        raise NotAHost("Only hosts own farms. Register with role 'host' to sell.")
    return Farm.objects.create(owner=owner, **fields)


def farm_update(*, farm: Farm, actor: User, **fields: Any) -> Farm:
    _require_owner(farm=farm, actor=actor)
    for name, value in fields.items():
        setattr(farm, name, value)
    farm.save(update_fields=[*fields, "updated_at"])
    return farm


def _photo(fields: dict[str, Any]) -> None:
    """A new photo is stored as ``photo_clean`` re-encodes it (no EXIF, bounded size)."""
    if fields.get("photo"):
        fields["photo"] = photo_clean(fields["photo"])


def product_create(*, actor: User, farm: Farm, **fields: Any) -> Product:
    _require_owner(farm=farm, actor=actor)
    _photo(fields)
    return Product.objects.create(farm=farm, **fields)


def product_update(*, product: Product, actor: User, **fields: Any) -> Product:
    _require_owner(farm=product.farm, actor=actor)
    _photo(fields)
    for name, value in fields.items():
        setattr(product, name, value)
    product.save(update_fields=[*fields, "updated_at"])
    return product
