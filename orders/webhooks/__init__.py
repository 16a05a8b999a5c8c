"""Outbound webhooks: partners' endpoints, signed deliveries with retries (docs/webhooks.md)."""
