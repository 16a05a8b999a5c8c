from django.apps import AppConfig


class MediaConfig(AppConfig):
    """A Django app of its own (label ``media``) so recordings have their own table and
    migrations, while living beside the rest of ``streams``."""

    name = "streams.media"
    label = "media"
    verbose_name = "Live video"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from streams import selectors
        from streams.media import hooks, peers

        selectors.snapshot_providers["video"] = hooks.video_snapshot
        peers.set_registry_factory(lambda: peers.Registry(hooks.DjangoHooks()))
