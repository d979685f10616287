"""Capture times: recorder file names, UTC offsets, IANA zones, plausibility, missing times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from models.media.timestamps import localise, parse_offset, time_from_filename, zone

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("name", "expected"), [
    ("S4A03895_20190522_170000.wav", datetime(2019, 5, 22, 17, 0, 0)),  # Song Meter
    ("20201214_192255.WAV", datetime(2020, 12, 14, 19, 22, 55)),  # AudioMoth
    ("SITE01_20240601_053000.BirdNET.results.csv", datetime(2024, 6, 1, 5, 30, 0)),
    ("IMG_0001.JPG", None),
    ("rec_20241340_120000.wav", None),  # month 13
    ("x20190522_170000.wav", None),  # the date must start the name or follow "_"
])
def test_time_from_filename(name, expected):
    assert time_from_filename(name) == expected


@pytest.mark.parametrize(("text", "minutes"), [("+08:00", 480), ("-0500", -300), ("+05:30", 330), (" -03:30 ", -210)])
def test_parse_offset(text, minutes):
    assert parse_offset(text) == timezone(timedelta(minutes=minutes))


@pytest.mark.parametrize("text", [None, "", "UTC+8", "8:00", "+8"])
def test_parse_offset_rejects(text):
    assert parse_offset(text) is None


def test_zone():
    assert zone("Asia/Shanghai").key == "Asia/Shanghai"
    assert zone(" Europe/Berlin ").key == "Europe/Berlin"
    assert zone("Not/AZone") is None and zone("") is None and zone(None) is None


def test_localise_device_offset_wins_over_zone():
    assert localise(datetime(2024, 1, 15, 12, 0), "+02:00", "Asia/Shanghai", NOW) == ("2024-01-15T12:00:00+02:00", "")


@pytest.mark.parametrize(("naive", "expected"), [
    (datetime(2024, 5, 1, 8, 0), "2024-05-01T08:00:00+08:00"),
    (datetime(2024, 12, 31, 23, 59, 59), "2024-12-31T23:59:59+08:00"),
])
def test_localise_with_iana_zone(naive, expected):
    assert localise(naive, None, "Asia/Shanghai", NOW) == (expected, "")


def test_localise_zone_follows_daylight_saving():
    assert localise(datetime(2024, 7, 1, 12, 0), None, "Europe/Berlin", NOW)[0] == "2024-07-01T12:00:00+02:00"
    assert localise(datetime(2024, 1, 1, 12, 0), None, "Europe/Berlin", NOW)[0] == "2024-01-01T12:00:00+01:00"


def test_localise_without_zone():
    assert localise(datetime(2024, 5, 1, 8, 0), None, None, NOW) == ("2024-05-01T08:00:00", "no_timezone")
    assert localise(datetime(2024, 5, 1, 8, 0), "garbage", "Nowhere/Zone", NOW) == ("2024-05-01T08:00:00",
                                                                                    "no_timezone")


@pytest.mark.parametrize("naive", [datetime(1970, 1, 1), datetime(1989, 12, 31, 23, 59), datetime(2025, 1, 3)])
def test_localise_flags_implausible_times(naive):
    stamp, issues = localise(naive, None, "Asia/Shanghai", NOW)
    assert stamp.startswith(naive.isoformat())
    assert issues == "implausible"
    assert localise(naive, None, None, NOW)[1] == "no_timezone;implausible"


def test_localise_missing_time_is_never_now():
    assert localise(None, "+08:00", "Asia/Shanghai", NOW) == ("", "missing")
    assert localise(None) == ("", "missing")
