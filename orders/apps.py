from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders, payments and fulfilment"

    def ready(self) -> None:
        """Plug orders into the apps below, which do not know them (docs/architecture.md:
        the higher app registers)."""
        from coupons import selectors as coupon_selectors
        from orders import live
        from orders.notifications.services import notifications_fan_out
        from orders.selectors import campaign_money
        from orders.webhooks.services import deliveries_fan_out
        from server.outbox import services as outbox
        from streams import live as streams_live
        from streams import services as streams_services

        coupon_selectors.campaign_money_providers.append(campaign_money)
        streams_services.session_end_hooks.append(live.offers_end)
        streams_live.tick_hooks.append(live.tick)
        for subscriber in (deliveries_fan_out, notifications_fan_out):
            if subscriber not in outbox.subscribers:
                outbox.subscribers.append(subscriber)
