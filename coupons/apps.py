from django.apps import AppConfig


class CouponsConfig(AppConfig):
    name = "coupons"
    verbose_name = "Coupon campaigns and live drops"

    def ready(self) -> None:
        """Plug coupons into the live channel, which does not know them (docs/architecture.md:
        dependencies point one way; the higher app registers)."""
        from coupons import live
        from coupons.services.drops import drops_close_for_session, open_drops
        from streams import live as streams_live
        from streams import selectors, services

        selectors.snapshot_providers["drops"] = open_drops
        services.session_end_hooks.append(drops_close_for_session)
        streams_live.tick_hooks.append(live.tick)
