"""The REST API has no models of its own: API tokens live in core (core/models.py)."""
