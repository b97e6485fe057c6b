"""care: the hand-off to people. Escalations and replies not understood become help-desk tickets, one per case."""
