"""Demo data for the embedded default: two farms, four products, people to log in as, one
session live now with a showcase, orders and a coupon drop, and a past of three months:
ended sessions with viewers, chat, a promoter's coupon drops and orders that were paid,
packed, shipped by Thailand Post, scanned, delivered, completed, cancelled or refunded. So
every page (a buyer's orders and coupons, the farm's desk, the post-live report, the
campaign's return, household impact) opens on real numbers.

All of it is made through the services, at fixed times before the run (``now=``), the way
the product records it: the sessions' metric buckets, order history, outbox events. Times
are anchored to the day of the run (the impact page shows the last twelve months): past
sessions on the 10th of each of the last three months, the promoter's live six days ago,
the live one started fifteen minutes ago.

Idempotent: a second run finds what the first made and adds nothing. Each live is found by
its title: one a run was killed in the middle of stays unfinished, and a data folder seeded
before the past existed (its people joined after it) gets none; start from an empty data
folder for the whole demo.
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
from coupons.models import Campaign
from coupons.services import campaigns
from frontend.demo_world import LOCAL, DropPlan, Live, Sale, live_play, local
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
# Other shoppers, so the farms have customers and the reports a crowd (not printed).
SHOPPERS = [
    # username, display name, address
    ("dao", "ดาว Dao", {"name": "Dao Srisuk", "phone": "0891112233",
                        "line1": "88/12 Soi Ari 4, Phaya Thai", "province": "Bangkok",
                        "postcode": "10400"}),
    ("mek", "เมฆ Mek", {"name": "Mek Thongdee", "phone": "0852223344",
                        "line1": "5 Nimmanhaemin Rd", "province": "Chiang Mai",
                        "postcode": "50200"}),
    ("fon", "ฝน Fon", {"name": "Fon Kaewmanee", "phone": "0863334455",
                       "line1": "21 Mittraphap Rd", "province": "Khon Kaen",
                       "postcode": "40000"}),
    ("ton", "ต้น Ton", {"name": "Ton Rattanakorn", "phone": "0874445566",
                        "line1": "3 Thalang Rd", "province": "Phuket", "postcode": "83000"}),
    ("ploen", "เพลิน Ploen", {"name": "Ploen Wongsa", "phone": "0885556677",
                              "line1": "140 Tiwanon Rd", "province": "Nonthaburi",
                              "postcode": "11000"}),
]  # fmt: skip
SHOPPER_PASSWORD = "shop-local-2026"
NOK_ADDRESS = {"name": "Nok Intharasuk", "phone": "0812345678", "line1": "7 Moo 2, Nai Wiang",
               "province": "Nan", "postcode": "55000"}  # fmt: skip

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


D = Decimal
# The promoter's campaign, with drops in somchai's lives (six days ago, and now).
CAMPAIGN = {
    "name": "ฤดูมะม่วง ลด 10% Mango season: 10% off live",
    "kind": "percent", "value": D("10"), "max_discount": D("60"), "budget": 40,
    "per_user_limit": 2, "claim_ttl_s": 7 * 24 * 3600,
}  # fmt: skip
PAST = [
    Live(
        farm=1, months_ago=3,
        title="กาแฟดอยรอบแรก First highland coffee live of the season",
        showcase=((0, D("229.00"), 30), (1, D("139.00"), 40)),
        viewers=(4, 9, 15, 18, 14, 8),
        chat=((40, "nok", "สวัสดีค่ะ ส่งถึงน่านไหมคะ Do you ship within Nan?"),
              (130, "mek", "คั่วเมื่อไหร่ครับ When was it roasted?")),
        sales=(Sale(70, "nok", ((0, 2),), "promptpay", "completed"),
               Sale(150, "dao", ((1, 3),), "cod", "completed"),
               Sale(200, "mek", ((0, 1), (1, 1)), "sandbox", "completed"),
               Sale(260, "fon", ((1, 2),), "cod", "completed")),
    ),
    Live(
        farm=0, months_ago=2,
        title="มะม่วงต้นฤดู Early-season mango live",
        showcase=((0, D("420.00"), 25), (1, D("169.00"), 15)),
        viewers=(6, 13, 21, 24, 19, 12, 7),
        chat=((30, "ploen", "ลุงคะ หวานไหม Sweet already, uncle?"),
              (200, "ton", "honey please 🍯")),
        sales=(Sale(90, "ploen", ((0, 1),), "cod", "completed"),
               Sale(160, "ton", ((1, 2),), "promptpay", "completed"),
               Sale(230, "nok", ((0, 1),), "cod", "completed"),
               Sale(300, "dao", ((1, 1),), "cod", "cancelled")),
    ),
    Live(
        farm=1, months_ago=1,
        title="ข้าวใหม่จากดอย New-crop hill rice live",
        showcase=((0, D("239.00"), 30), (1, D("145.00"), 50)),
        viewers=(5, 11, 17, 22, 20, 15, 9),
        chat=((50, "fon", "ข้าวใหม่หอมมาก New rice smells great"),
              (180, "nok", "ขอ 2 ถุงค่ะ Two bags for me")),
        sales=(Sale(100, "nok", ((1, 2),), "promptpay", "completed"),
               Sale(140, "mek", ((1, 4),), "cod", "completed"),
               Sale(210, "ton", ((0, 2),), "cod", "completed"),
               Sale(270, "ploen", ((0, 1),), "sandbox", "completed"),
               Sale(330, "fon", ((1, 1),), "cod", "completed")),
    ),
    # The promoter's live: two drops (one runs out in seconds), orders in every state.
    Live(
        farm=0, days_ago=6,
        title="มะม่วงรอบเย็น คูปองลด 10% Evening mango live with coupon drops",
        showcase=((0, D("399.00"), 30), (1, D("159.00"), 20)),
        viewers=(5, 12, 19, 26, 31, 34, 29, 24, 16, 9),
        chat=((20, "nok", "สวัสดีค่ะลุง Hello from Nan!"),
              (75, "dao", "มะม่วงหวานไหมคะ Are they sweet?"),
              (110, "mek", "ขอโค้ดด้วยครับ Coupon please!"),
              (200, "ploen", "ได้โค้ดแล้ว Got one 🎉"),
              (330, "fon", "รอบสองมาแล้ว Second drop!"),
              (480, "nok", "ขอบคุณค่ะ Thank you!")),
        drops=(DropPlan(120, 4, 120, ((123, "nok"), (124, "dao"), (125, "mek"), (127, "ploen"))),
               DropPlan(360, 6, 180, ((364, "fon"), (366, "ton")))),
        sales=(Sale(140, "nok", ((0, 1),), "promptpay", "delivered", coupon=True),
               Sale(150, "dao", ((0, 2),), "cod", "delivered", coupon=True),
               Sale(170, "mek", ((0, 1), (1, 1)), "promptpay", "shipped", coupon=True),
               Sale(210, "ploen", ((1, 2),), "sandbox", "refunded", coupon=True),
               Sale(380, "fon", ((0, 1),), "cod", "packed", coupon=True),
               Sale(400, "ton", ((0, 1),), "promptpay", "cancelled", coupon=True),
               Sale(450, "nok", ((1, 1),), "cod", "shipped"),
               Sale(500, "dao", ((1, 1),), "promptpay", "accepted")),
    ),
]  # fmt: skip
# Live now (started fifteen minutes before the run): orders for the farm's desk to take on,
# and a drop still open in which nok claimed the coupon her "My coupons" shows.
LIVE_NOW = Live(
    farm=0,
    title="ขายสดตอนนี้ Selling live now: this morning's harvest",
    showcase=((0, D("399.00"), 40), (1, D("159.00"), 20)),
    viewers=(3, 8, 14, 19, 23, 26, 28, 30, 29, 31, 33, 30, 28, 27, 25),
    chat=((60, "dao", "เช้านี้เก็บเลยเหรอคะ Picked this morning?"),
          (300, "mek", "สั่งแล้วครับ Ordered!"),
          (400, "nok", "รอโค้ดอยู่ค่ะ Waiting for a coupon")),
    drops=(DropPlan(360, 10, 900, ((363, "nok"), (365, "ton"))),),
    sales=(Sale(200, "dao", ((0, 2),), "cod", "accepted"),
           Sale(320, "mek", ((1, 1),), "promptpay", "paid"),
           Sale(450, "ton", ((0, 1),), "cod", "accepted", coupon=True),
           Sale(600, "fon", ((0, 3),), "sandbox", "paid")),
)  # fmt: skip
LIVE_DESCRIPTION = "Live prices while the allotment lasts."


def _month_day(today: date, months_ago: int, day: int) -> date:
    month = today.year * 12 + today.month - 1 - months_ago
    return date(month // 12, month % 12 + 1, day)


class Command(BaseCommand):
    help = "Seed demo users, farms, products, sessions, a live showcase and a past (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="allow in production")

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        if settings.PRODUCTION and not force:
            raise CommandError("Refusing to seed demo accounts in production (use --force).")
        now = timezone.now()
        with transaction.atomic():
            created = self._seed(now)
        # Not in one transaction: as in production each step commits, and what runs after a
        # commit (coupon gates, the session's metric buckets) runs then.
        created |= self._history(now)
        verb = "Seeded" if created else "Demo data already present"
        self.stdout.write(self.style.SUCCESS(f"{verb}. Log in as:"))
        for username, password, display, role in [*PEOPLE, (*STAFF, "Staff", "staff")]:
            self.stdout.write(f"  {role:<9} {username:<8} password: {password}   ({display})")

    def _seed(self, now: datetime) -> bool:
        created = False
        joined = local(_month_day(now.astimezone(LOCAL).date(), 4, 1), 9)
        people = list(PEOPLE)
        people += [(u, SHOPPER_PASSWORD, d, Role.VIEWER) for u, d, _ in SHOPPERS]
        for username, password, display, role in people:
            if not User.objects.filter(username__iexact=username).exists():
                accounts.user_register(
                    username=username, password=password, display_name=display, role=role,
                    now=joined,
                )  # fmt: skip
                created = True
        if not User.objects.filter(username__iexact=STAFF[0]).exists():
            User.objects.create_superuser(
                username=STAFF[0], password=STAFF[1], display_name="Talad staff"
            )

        for spec in FARMS:
            spec = dict(spec)
            owner = User.objects.get(username__iexact=spec.pop("owner"))
            products = spec.pop("products")
            title = spec.pop("session")
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
        return created

    def _history(self, now: datetime) -> bool:
        """The past lives, oldest first, then the one live now; each made once."""
        today = now.astimezone(LOCAL).date()
        starts = {
            spec.title: local(_month_day(today, spec.months_ago, 10), 19)
            if spec.months_ago is not None
            else local(today - timedelta(days=spec.days_ago or 0), 19)
            for spec in PAST
        }
        starts[LIVE_NOW.title] = now.replace(second=0, microsecond=0) - timedelta(minutes=15)
        lives = [*PAST, LIVE_NOW]
        people = {sale.buyer for spec in lives for sale in spec.sales}
        # Coupon drops refuse accounts newer than them, as they would have then: people an
        # earlier version of this seed made (today) get none of the lives.
        if User.objects.filter(username__in=people, date_joined__gt=min(starts.values())).exists():
            self.stderr.write("The demo's people joined after its past: seeded without it "
                              "(start from an empty data folder for the whole demo).")  # fmt: skip
            return False
        created = False
        for spec in lives:
            farm = self._farm(spec.farm)
            if LiveSession.objects.filter(farm=farm, title=spec.title).exists():
                continue
            start = starts[spec.title]
            products = {
                i: Product.objects.get(farm=farm, name=p["name"])
                for i, p in enumerate(FARMS[spec.farm]["products"])
            }
            live_play(
                spec, farm=farm, products=products, start=start, ends=spec is not LIVE_NOW,
                now=now, address=_address, campaign=self._campaign() if spec.drops else None,
                description=LIVE_DESCRIPTION,
            )  # fmt: skip
            created = True
        return created

    @staticmethod
    def _farm(index: int) -> Farm:
        spec = FARMS[index]
        return Farm.objects.select_related("owner").get(
            owner__username=spec["owner"], name=spec["name"]
        )

    @staticmethod
    def _campaign() -> Campaign:
        """Ploy's campaign for somchai's farm, made the first time a live drops it."""
        ploy = User.objects.get(username="ploy")
        campaign = Campaign.objects.filter(owner=ploy, name=CAMPAIGN["name"]).first()
        if campaign is None:
            campaign = campaigns.campaign_create(
                owner=ploy, farms=[Command._farm(0)], **CAMPAIGN
            )
        return campaign


def _address(username: str) -> dict[str, str]:
    if username == "nok":
        return NOK_ADDRESS
    return next(address for name, _, address in SHOPPERS if name == username)
