"""Labelled evaluation data generated on this machine (docs/benchmarks.md).

- `models.datasets.faces`: real face photos shipped with scikit-image composited onto
  background images at known boxes, scales, rotations, brightness and noise (JPEG + boxes).
- `models.datasets.speech`: `espeak-ng` speaking wake phrases and negative phrases in several
  voices, speeds and pitches, mixed with noise at known SNRs (16 kHz mono s16le WAV + label).

Everything is deterministic from a seed and cached under a data directory: `$EDGEFLEET_DATA_DIR`
if set, else `var/data/` below the current directory. Nothing here is imported by the agent.
"""

import os
from pathlib import Path

DATA_DIR_ENV = "EDGEFLEET_DATA_DIR"


def default_data_dir() -> Path:
    """Where generated data sets are cached (created on first use)."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path("var") / "data")


__all__ = ["DATA_DIR_ENV", "default_data_dir"]
