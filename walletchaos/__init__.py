"""walletchaos."""
