"""The gateway: the only internet-facing HTTP edge. Verifies, dedupes and maps webhooks onto the contract."""
