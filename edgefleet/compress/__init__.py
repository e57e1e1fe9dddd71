"""Int8 compression of catalogue models (`edgefleet models compress`), docs/models.md."""

from edgefleet.compress.quantize import CompressError
from edgefleet.compress.run import CompressReport, compress

__all__ = ["CompressError", "CompressReport", "compress"]
