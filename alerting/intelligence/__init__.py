"""Models learned from a tenant's own alerts: anomaly detection, incident prediction, and
correlation of alerts into incidents."""
