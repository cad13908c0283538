"""Other systems the service talks to: sources that send it alerts, targets it notifies."""
