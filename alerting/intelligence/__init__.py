"""Models learned from a tenant's own alerts: anomaly detection and incident prediction."""
