"""The model registry: signed, content-addressed versions and their deployments."""
