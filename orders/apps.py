from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders, payments and fulfilment"

    def ready(self) -> None:
        """Plug orders into the apps below, which do not know them (docs/architecture.md:
        the higher app registers)."""
        from coupons import selectors as coupon_selectors
        from orders import live
        from orders.selectors import campaign_money
        from streams import live as streams_live
        from streams import services as streams_services

        coupon_selectors.campaign_money_providers.append(campaign_money)
        streams_services.session_end_hooks.append(live.offers_end)
        streams_live.tick_hooks.append(live.tick)
