"""Plumbing every Forewarn service shares: settings, clock, Faust app, dead letters, DB, metrics."""
