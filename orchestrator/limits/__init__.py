"""Limit signals: what a CLI's texts, events and HTTP answers say about a provider's limit.

Every channel that can see a limit (the live output scanners, the adapters'
classifiers, the sentinel) asks this package what the words mean and when
the limit ends, so a reset is read the same way wherever it was seen.
"""

from ._headers import reset_from_headers
from ._headroom import Headroom, headroom_from_headers
from ._log_follower import follow_log
from ._markers import find_marker, parse_retry_after
from ._reset_times import next_midnight, parse_reset_time

__all__ = [
    "Headroom",
    "find_marker",
    "follow_log",
    "headroom_from_headers",
    "next_midnight",
    "parse_reset_time",
    "parse_retry_after",
    "reset_from_headers",
]
