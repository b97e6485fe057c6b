"""A store simulator: realistic demo traffic for `make run`."""
