"""The read-only ops dashboard: topics, consumer lag, incidents, notifications and dead letters."""
