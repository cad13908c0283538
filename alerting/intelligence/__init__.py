"""Intelligence over the alert stream: correlation of alerts into incidents."""
