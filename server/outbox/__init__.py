"""The outbox: durable side effects written in the same transaction as the change that
causes them, relayed by a worker after commit (see ``server.outbox.services``)."""
