"""Fixtures of the deploy tests (defined in tests/deploy/bundles.py, shared with tests/e2e)."""

from tests.deploy.bundles import x86_64_bundle

__all__ = ["x86_64_bundle"]
