"""Where events come from besides producers: the anomaly detector and incident prediction."""
