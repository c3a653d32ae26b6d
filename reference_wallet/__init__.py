"""reference_wallet."""
