"""Capture and recording times: EXIF, recorder file names, deployment time zones.

Times are stored as ISO 8601 strings with their UTC offset. A time that cannot be established is
left empty and flagged (Camtrap DP ``timestampIssues``), never replaced by the ingestion time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# AudioMoth (YYYYMMDD_HHMMSS.WAV) and Song Meter (PREFIX_YYYYMMDD_HHMMSS.wav) file names.
_RECORDER_NAME = re.compile(r"(?:^|_)(\d{8})_(\d{6})(?:[._]|$)")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
#: Earliest plausible capture time; camera clocks reset to their epoch (often 2000/2010-01-01).
PLAUSIBLE_FROM = datetime(1990, 1, 1)


def time_from_filename(name: str) -> datetime | None:
    """Naive local start time from a recorder file name such as ``S4A03895_20190522_170000.wav``.

    Returns None when the name carries no ``YYYYMMDD_HHMMSS`` group or it is not a valid time.
    """
    m = _RECORDER_NAME.search(name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S")
    except ValueError:
        return None


def parse_offset(text: str | None) -> timezone | None:
    """``+08:00`` / ``-0500`` -> a fixed ``timezone``; None if absent or malformed."""
    if not text:
        return None
    m = _OFFSET.match(text.strip())
    if not m:
        return None
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    return timezone(-delta if m.group(1) == "-" else delta)


def zone(name: str | None) -> ZoneInfo | None:
    """IANA time zone (``Asia/Shanghai``) or None when empty/unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def localise(naive: datetime | None, offset: str | None = None, tz_name: str | None = None,
             now: datetime | None = None) -> tuple[str, str]:
    """Attach a UTC offset to a camera/recorder local time and check it is plausible.

    The offset written by the device wins; else the deployment's IANA zone; else the time is
    kept without offset and flagged ``no_timezone``.

    Returns:
        ``(iso_timestamp, issues)``: ISO 8601 string (empty when missing) and a ``;``-joined list
        of ``missing``, ``no_timezone`` or ``implausible``.
    """
    if naive is None:
        return "", "missing"
    issues = []
    tz = parse_offset(offset) or zone(tz_name)
    stamp = naive.replace(tzinfo=tz) if tz else naive
    if tz is None:
        issues.append("no_timezone")
    now = now or datetime.now(UTC)
    upper = now.replace(tzinfo=None) + timedelta(days=1)
    if not (PLAUSIBLE_FROM <= naive <= upper):
        issues.append("implausible")
    return stamp.isoformat(), ";".join(issues)
