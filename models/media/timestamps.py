"""Capture and recording times: EXIF, recorder file names, deployment time zones.

Times are stored as ISO 8601 strings with their UTC offset. A time that cannot be established is
left empty and flagged (Camtrap DP ``timestampIssues``), never replaced by the ingestion time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

# AudioMoth (YYYYMMDD_HHMMSS.WAV) and Song Meter (PREFIX_YYYYMMDD_HHMMSS.wav) file names.
_RECORDER_NAME = re.compile(r"(?:^|_)(\d{8})_(\d{6})(?:[._]|$)")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
#: Earliest plausible capture time. Camera-trap clocks that lose power reset to their epoch, most
#: often 2000-01-01 00:00 (e.g. Reconyx, Bushnell; see the Timelapse "date correction" guide), so
#: the whole of that day and anything earlier is implausible unless the deployment says otherwise.
PLAUSIBLE_FROM = datetime(2000, 1, 2)
#: Slack around a deployment's start/end when checking a capture time against it.
DEPLOYMENT_SLACK = timedelta(days=1)


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


@dataclass(frozen=True)
class AudioMothComment:
    """Facts an AudioMoth writes into its WAV comment (RIFF ``INFO/ICMT``).

    Example (firmware 1.4+): ``Recorded at 19:22:55 14/12/2020 (UTC-5) by AudioMoth 24E144055DDD3203
    at medium gain setting while battery state was 4.0V and temperature was 24.5C.``
    (format documented in the AudioMoth firmware's ``main.c``; older firmware omits the fields after
    the device ID, which are then None).
    """

    start: datetime
    utc_offset: str
    device_id: str
    gain: str | None = None
    battery_v: float | None = None
    temperature_c: float | None = None


_AUDIOMOTH = re.compile(
    r"Recorded at (?P<time>\d{2}:\d{2}:\d{2}) (?P<date>\d{2}/\d{2}/\d{4}) "
    r"\(UTC(?:(?P<sign>[+-])(?P<hh>\d{1,2})(?::?(?P<mm>\d{2}))?)?\) by AudioMoth (?P<device>[0-9A-Fa-f]{16})"
    r"(?: at (?P<gain>[\w-]+) gain(?: setting)?)?"
    r"(?: while battery state was (?:less than |greater than )?(?P<battery>\d+(?:\.\d+)?)V)?"
    r"(?: and temperature was (?P<temp>-?\d+(?:\.\d+)?)C)?")


def parse_audiomoth_comment(comment: str | None) -> AudioMothComment | None:
    """Parse an AudioMoth WAV comment; None when the text is not one.

    The time is the recorder's local time; ``utc_offset`` is ``+HH:MM`` (``+00:00`` for "(UTC)").
    """
    m = _AUDIOMOTH.search(comment or "")
    if not m:
        return None
    try:
        start = datetime.strptime(f"{m['date']} {m['time']}", "%d/%m/%Y %H:%M:%S")
    except ValueError:
        return None
    offset = f"{m['sign'] or '+'}{int(m['hh'] or 0):02d}:{m['mm'] or '00'}"
    return AudioMothComment(start=start, utc_offset=offset, device_id=m["device"].upper(), gain=m["gain"],
                            battery_v=float(m["battery"]) if m["battery"] else None,
                            temperature_c=float(m["temp"]) if m["temp"] else None)


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
             now: datetime | None = None, clock_offset_s: float = 0.0,
             window: tuple[str | None, str | None] = (None, None)) -> tuple[str, str]:
    """Attach a UTC offset to a camera/recorder local time and check it is plausible.

    The offset written by the device wins; else the deployment's IANA zone; else the time is
    kept without offset and flagged ``no_timezone``.

    Args:
        naive: the device's local time, or None when it recorded none.
        offset: the device's UTC offset text (EXIF ``OffsetTimeOriginal``, AudioMoth comment).
        tz_name: the deployment's IANA time zone.
        now: the present (tests pass a fixed one); times more than a day after it are implausible.
        clock_offset_s: per-deployment clock correction in seconds, added to ``naive`` before
            anything else (a camera set 1 h slow gets ``3600``).
        window: the deployment's ``deploymentStart``/``deploymentEnd`` (ISO 8601; empty or None
            when unknown); a corrected time more than a day outside it is implausible.

    Returns:
        ``(iso_timestamp, issues)``: ISO 8601 string (empty when missing) and a ``;``-joined list
        of ``missing``, ``no_timezone``, ``implausible`` (before ``PLAUSIBLE_FROM`` or in the
        future), ``outside_deployment`` (more than a day outside the deployment; always with
        ``implausible`` too when the time is also implausible, e.g. a clock reset to the 1990s),
        ``dst_nonexistent`` (a wall-clock time in the spring-forward gap of the deployment's zone) or
        ``dst_ambiguous`` (a time in the repeated autumn hour: written with its first offset; see
        :func:`resolve_repeated_hour`). A flagged time is kept as the device wrote it (corrected),
        never replaced; consumers must not use a time whose issues include any of
        :data:`UNUSABLE_TIME_ISSUES` as a capture time.
    """
    if naive is None:
        return "", "missing"
    try:
        naive = naive + timedelta(seconds=clock_offset_s)
    except OverflowError:
        return naive.isoformat(), "implausible"
    issues = []
    device_tz = parse_offset(offset)
    tz = device_tz or zone(tz_name)
    stamp = naive.replace(tzinfo=tz) if tz else naive
    if tz is None:
        issues.append("no_timezone")
    elif device_tz is None:  # an IANA zone: the wall time may not exist, or exist twice
        dst = dst_issue(naive, tz)
        if dst:
            issues.append(dst)
    now = now or datetime.now(UTC)
    upper = now.replace(tzinfo=None) + timedelta(days=1)
    if not (PLAUSIBLE_FROM <= naive <= upper):
        issues.append("implausible")
    if _outside(stamp, window):
        issues.append("outside_deployment")
    return stamp.isoformat(), ";".join(issues)


def dst_issue(naive: datetime, tz) -> str:
    """``dst_nonexistent`` when the wall-clock time ``naive`` never happens in ``tz`` (the spring-forward
    gap), ``dst_ambiguous`` when it happens twice (the repeated autumn hour), else ``""``.

    Uses PEP 495 ``fold``: an ambiguous time has different UTC offsets for ``fold=0`` and ``fold=1``; a
    missing one does not survive a round trip through UTC.
    """
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return ""
    try:
        back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    except OverflowError:
        return ""
    return "dst_ambiguous" if back == naive else "dst_nonexistent"


#: Issues that make a timestamp unusable as a capture time (grouping, time queries).
UNUSABLE_TIME_ISSUES = frozenset({"missing", "implausible", "outside_deployment", "dst_nonexistent",
                                  "dst_ambiguous"})


def resolve_repeated_hour(stamps: list[tuple[str, str]], tz_name: str | None) -> list[tuple[str, str]]:
    """Resolve times in the repeated autumn hour from their neighbours of the same deployment.

    ``stamps`` are ``(timestamp, timestampIssues)`` pairs from :func:`localise` for one deployment, in
    capture order (the camera's file numbering: a burst does not run backwards in time). Each run of
    consecutive ``dst_ambiguous`` times between usable neighbours is given first-occurrence offsets up to
    some point and second-occurrence offsets after it; when exactly one such split keeps the whole
    sequence, neighbours included, non-decreasing in UTC, the run is resolved: the offset is set and the
    issue becomes ``dst_resolved`` (usable). Otherwise the times stay ``dst_ambiguous`` (unusable): never
    an instant an hour off without a flag.

    Returns:
        the pairs in the same order, resolved ones replaced.
    """
    tz = zone(tz_name)
    out = list(stamps)
    if tz is None:
        return out

    def issues_of(i: int) -> set[str]:
        return set(filter(None, out[i][1].split(";")))

    def instant(i: int) -> datetime | None:
        if not usable_time(*out[i]):
            return None
        value = datetime.fromisoformat(out[i][0])
        return value.astimezone(UTC) if value.tzinfo is not None else None

    i = 0
    while i < len(out):
        if "dst_ambiguous" not in issues_of(i) or (issues_of(i) & UNUSABLE_TIME_ISSUES) - {"dst_ambiguous"}:
            i += 1
            continue
        j = i
        while j < len(out) and "dst_ambiguous" in issues_of(j) and not (
                (issues_of(j) & UNUSABLE_TIME_ISSUES) - {"dst_ambiguous"}):
            j += 1
        before = next((t for t in (instant(k) for k in range(i - 1, -1, -1)) if t is not None), None)
        after = next((t for t in (instant(k) for k in range(j, len(out))) if t is not None), None)
        walls = [datetime.fromisoformat(out[k][0]).replace(tzinfo=None) for k in range(i, j)]
        valid = []
        for split in range(len(walls) + 1):
            seq = [w.replace(tzinfo=tz, fold=0 if n < split else 1).astimezone(UTC) for n, w in enumerate(walls)]
            seq = [t for t in (before, *seq, after) if t is not None]
            if all(a <= b for a, b in zip(seq, seq[1:], strict=False)):
                valid.append(split)
        if len(valid) == 1:
            for n, k in enumerate(range(i, j)):
                aware = walls[n].replace(tzinfo=tz, fold=0 if n < valid[0] else 1)
                fixed = ";".join("dst_resolved" if x == "dst_ambiguous" else x for x in out[k][1].split(";"))
                out[k] = (aware.isoformat(), fixed)
        i = j
    return out


def usable_time(timestamp: str, issues: str) -> bool:
    """True when ``timestamp`` is set and its ``timestampIssues`` include none of
    :data:`UNUSABLE_TIME_ISSUES` (``no_timezone`` alone keeps it usable as local time)."""
    return bool(timestamp) and not (set(filter(None, issues.split(";"))) & UNUSABLE_TIME_ISSUES)


def _outside(stamp: datetime, window: tuple[str | None, str | None]) -> bool:
    for bound, sign in zip(window, (-1, 1), strict=True):
        if not bound:
            continue
        try:
            edge = datetime.fromisoformat(bound)
        except ValueError:
            continue
        if (edge.tzinfo is None) != (stamp.tzinfo is None):  # compare wall-clock times
            edge, value = edge.replace(tzinfo=None), stamp.replace(tzinfo=None)
        else:
            value = stamp
        if sign * (value - edge).total_seconds() > DEPLOYMENT_SLACK.total_seconds():
            return True
    return False


@dataclass(frozen=True)
class GuanoMetadata:
    """Facts read from a WAV file's GUANO metadata chunk (``guan``; Grand Unified Acoustic Notation
    Ontology, https://github.com/riggsd/guano-spec), as written by Wildlife Acoustics Song Meter,
    Pettersson, Titley and other recorders.

    ``start`` is the recording's naive local start time (GUANO ``Timestamp``); ``utc_offset`` is
    ``+HH:MM`` when the timestamp carries an offset, None when it is "local" time without one.
    """

    start: datetime
    utc_offset: str | None
    make: str = ""
    model: str = ""
    serial: str = ""


def read_guano(path) -> GuanoMetadata | None:
    """GUANO metadata of a WAV file, in any sample format (PCM, float, extensible): the ``guan`` chunk is
    found by the RIFF reader (``models.media.riff``; the ``wave`` module, which the ``guano`` library's own
    reader relies on, refuses float WAVs) and parsed by ``guano.GuanoFile.from_string``.

    Returns:
        the metadata, or None when the file has no GUANO chunk or no usable ``Timestamp``. Every problem
        recovered from (an unreadable file or chunk, text that is not UTF-8, a malformed field) is logged as a
        warning naming the file, never swallowed.
    """
    import guano

    from models.media.riff import read_chunk

    try:
        raw = read_chunk(path, "guan")
    except OSError as exc:
        log.warning("%s: WAV chunks unreadable, GUANO metadata skipped (%s)", path, exc)
        return None
    if raw is None:
        return None
    try:
        text = raw.rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError as exc:
        log.warning("%s: GUANO chunk is not UTF-8 (%s); decoded with replacements", path, exc)
        text = raw.rstrip(b"\x00").decode("utf-8", errors="replace")
    try:
        g = guano.GuanoFile.from_string(text, strict=False)
    except Exception as exc:  # noqa: BLE001 - third-party parser: any failure is a metadata error to report
        log.warning("%s: GUANO metadata unparseable (%s: %s)", path, type(exc).__name__, exc)
        return None
    try:
        stamp = g.get("Timestamp")
    except Exception as exc:  # noqa: BLE001 - a malformed field value raises from the coercion
        log.warning("%s: GUANO Timestamp unreadable (%s: %s)", path, type(exc).__name__, exc)
        return None
    if stamp is None:
        return None
    if not isinstance(stamp, datetime):
        log.warning("%s: GUANO Timestamp %r is not a date-time; ignored", path, str(stamp)[:64])
        return None
    offset = None
    if stamp.tzinfo is not None and stamp.utcoffset() is not None:
        minutes = int(stamp.utcoffset().total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return GuanoMetadata(start=stamp.replace(tzinfo=None), utc_offset=offset, make=str(g.get("Make") or ""),
                         model=str(g.get("Model") or ""), serial=str(g.get("Serial") or ""))
