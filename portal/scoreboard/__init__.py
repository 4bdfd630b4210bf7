"""The public scoreboard: every agency's record, and each agency's page with its trends."""
