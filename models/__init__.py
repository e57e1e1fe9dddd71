"""Models: the sha256-verified catalogue, fetch from pinned PyPI wheels, runtimes, pipelines.

Import the submodules you need (`models.catalogue`, `models.fetch`, `models.pipelines`);
this package imports nothing heavy so `edgefleet agent` starts fast.
"""
