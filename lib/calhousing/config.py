"""polars' memory bounds for ``calhousing predict``, outside :mod:`calhousing.predict`.

polars reads them when it is imported, so the command line calls :func:`bound_memory` first; a
variable the user has set is left alone. polars' defaults held 250-320 MB on a 10M-row file on
2 threads and 390-530 MB on 16; these keep the peak near 180-270 MB from 1 to 16 threads at the
same speed on 2 cores (measured in docs/scoring.md).
"""

from __future__ import annotations

import os


def csv_chunk_bytes(threads: int) -> int:
    """Bytes polars' CSV reader parses per morsel on `threads` threads: memory grows with
    both, and polars' default held 363 MB on a 10M-row file on 2 threads, 820 MB on 8."""
    return max(2**19, min(2**22 * min(threads, 2), 2**25 // threads**2))


def bound_memory() -> None:
    """Set polars' morsel size and Parquet read-ahead, unless already set."""
    # rows per morsel a Parquet row group is cut into (polars: 100,000)
    os.environ.setdefault("POLARS_IDEAL_MORSEL_SIZE", "25000")
    # Parquet row groups read ahead of the decoder (polars: at least 128, bounded by bytes)
    os.environ.setdefault("POLARS_ROW_GROUP_PREFETCH_SIZE", "2")
