"""Qorgau: the domain and the application (settings, alerts, routing, escalation, delivery)."""
