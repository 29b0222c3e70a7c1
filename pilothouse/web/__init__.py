"""Admin API (and later the dashboard): reads and changes state through services, never providers."""
