"""Demo data for the embedded default: two farms, four products, people to log in as, and
one session live now with a showcase, so a visitor can buy during a live at once.

Idempotent: a second run finds what the first made and adds nothing.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from catalog import services as catalog
from catalog.models import Farm, Product
from server.accounts import services as accounts
from server.accounts.models import Role, User
from streams import services as streams
from streams.models import LiveSession

PEOPLE = [
    # username, password, display name, role
    ("somchai", "mango-season-2026", "ลุงสมชาย Somchai", Role.HOST),
    ("malee", "doi-coffee-2026", "มาลี Malee", Role.HOST),
    ("ploy", "promote-farms-2026", "พลอย Ploy (promoter)", Role.PROMOTER),
    ("nok", "watch-and-buy-2026", "นก Nok", Role.VIEWER),
]
STAFF = ("admin", "talad-admin-2026")

FARMS = [
    {
        "owner": "somchai",
        "name": "สวนมะม่วงลุงสมชาย Somchai's Mango Orchard",
        "story": "Three generations growing Nam Dok Mai mangoes beside the Bang Pakong river.",
        "province": "Chachoengsao",
        "district": "Bang Khla",
        "village": "Ban Pak Nam",
        "poverty_county": False,
        "households": 3,
        "session": "ไลฟ์สดมะม่วงหน้าสวน Mango harvest live from the orchard",
        # Live now: (product index, live price, allotment set aside from its stock).
        "live": {
            "title": "ขายสดตอนนี้ Selling live now: this morning's harvest",
            "showcase": [(0, Decimal("399.00"), 40), (1, Decimal("159.00"), 20)],
        },
        "products": [
            {
                "name": "มะม่วงน้ำดอกไม้สีทอง Nam Dok Mai mango, 5 kg box",
                "unit": "box",
                "price": Decimal("450.00"),
                "stock": 300,
                "harvest_days_ago": 2,
            },
            {
                "name": "น้ำผึ้งดอกลำไย Longan blossom honey, 500 g",
                "unit": "bottle",
                "price": Decimal("189.00"),
                "stock": 120,
                "harvest_days_ago": 30,
            },
        ],
    },
    {
        "owner": "malee",
        "name": "ไร่ภูฟ้า บ่อเกลือ Phu Fa Highland Farm",
        "story": "A Lua hill-village cooperative: shade-grown arabica and rain-fed hill rice.",
        "province": "Nan",
        "district": "Bo Kluea",
        "village": "Ban Sakad",
        "poverty_county": True,
        "county_code": "TH-5515",
        "households": 42,
        "cooperative": "Bo Kluea Highland Growers Cooperative",
        "session": "กาแฟดอยจากบ่อเกลือ Highland coffee and hill rice from Nan",
        "products": [
            {
                "name": "กาแฟอาราบิก้าคั่วกลาง Arabica coffee, medium roast, 250 g",
                "unit": "bag",
                "price": Decimal("260.00"),
                "stock": 200,
                "harvest_days_ago": 60,
            },
            {
                "name": "ข้าวหอมมะลิดอย Hill jasmine rice, 2 kg",
                "unit": "bag",
                "price": Decimal("155.50"),
                "stock": 500,
                "harvest_days_ago": 45,
            },
        ],
    },
]


class Command(BaseCommand):
    help = "Seed demo users, farms, products, sessions and a live showcase (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="allow in production")

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        if settings.PRODUCTION and not force:
            raise CommandError("Refusing to seed demo accounts in production (use --force).")
        with transaction.atomic():
            created = self._seed()
        verb = "Seeded" if created else "Demo data already present"
        self.stdout.write(self.style.SUCCESS(f"{verb}. Log in as:"))
        for username, password, display, role in [*PEOPLE, (*STAFF, "Staff", "staff")]:
            self.stdout.write(f"  {role:<9} {username:<8} password: {password}   ({display})")

    def _seed(self) -> bool:
        created = False
        users: dict[str, User] = {}
        for username, password, display, role in PEOPLE:
            user = User.objects.filter(username__iexact=username).first()
            if user is None:
                user = accounts.user_register(
                    username=username, password=password, display_name=display, role=role
                )
                created = True
            users[username] = user
        if not User.objects.filter(username__iexact=STAFF[0]).exists():
            User.objects.create_superuser(
                username=STAFF[0], password=STAFF[1], display_name="Talad staff"
            )

        now = timezone.now()
        for spec in FARMS:
            spec = dict(spec)
            owner = users[spec.pop("owner")]
            products = spec.pop("products")
            title = spec.pop("session")
            live = spec.pop("live", None)
            farm = Farm.objects.filter(owner=owner, name=spec["name"]).first()
            if farm is None:
                farm = catalog.farm_create(owner=owner, **spec)
                created = True
            for product in products:
                product = dict(product)
                harvested = date.today() - timedelta(days=product.pop("harvest_days_ago"))
                if not Product.objects.filter(farm=farm, name=product["name"]).exists():
                    catalog.product_create(
                        actor=owner, farm=farm, harvested_on=harvested, **product
                    )
                    created = True
            if not LiveSession.objects.filter(farm=farm, title=title).exists():
                streams.session_create(
                    host=owner,
                    farm=farm,
                    title=title,
                    now=now,
                    scheduled_at=now + timedelta(days=1),
                    description="Harvest-day prices, coupon drops, questions answered live.",
                )
                created = True
            if live is not None and not LiveSession.objects.filter(
                farm=farm, title=live["title"]
            ).exists():
                self._live(owner=owner, farm=farm, live=live, products=products, now=now)
                created = True
        return created

    def _live(
        self, *, owner: User, farm: Farm, live: dict, products: list[dict], now: datetime
    ) -> None:
        """A session that is live now, its showcase's allotments set aside from stock."""
        session = streams.session_create(
            host=owner, farm=farm, title=live["title"], now=now,
            description="Live prices while the allotment lasts.",
        )  # fmt: skip
        streams.session_start(session=session, actor=owner, now=now)
        for index, price, allotment in live["showcase"]:
            product = Product.objects.get(farm=farm, name=products[index]["name"])
            streams.showcase_add(
                session=session, actor=owner, product=product, live_price=price,
                allotment=allotment, now=now,
            )  # fmt: skip
