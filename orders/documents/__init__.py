"""Papers an order produces: packing slips with shipping labels (PDF) and the CSV export."""
