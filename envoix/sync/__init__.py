"""Import of Stripe money movements and their reconciliation, run as background jobs."""
