from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "server.outbox"
    label = "outbox"
    verbose_name = "Outbox"
