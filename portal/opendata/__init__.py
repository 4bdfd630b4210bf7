"""Open data: the scoreboard and anonymised cases as CSV and JSON downloads."""
