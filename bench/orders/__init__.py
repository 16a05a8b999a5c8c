"""The order-storm benchmark: ``python -m bench.orders`` (see ``bench.orders.run``)."""
