"""The REST API for scripts: thin DRF views over the curation and training services."""
