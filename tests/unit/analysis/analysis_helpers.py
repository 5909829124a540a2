"""Small builders shared by the analysis tests."""

from __future__ import annotations

from bot.analysis import CsvRejected, Profile, analyse_csv


def profile_of(data: bytes, file_name: str = "upload.csv") -> Profile:
    result = analyse_csv(data, file_name)
    assert isinstance(result, Profile), result
    return result


def rejected_of(data: bytes, file_name: str = "upload.csv") -> CsvRejected:
    result = analyse_csv(data, file_name)
    assert isinstance(result, CsvRejected), result
    return result


def column(profile: Profile, name: str):  # type: ignore[no-untyped-def]
    matches = [c for c in profile.columns if c.name == name]
    assert matches, [c.name for c in profile.columns]
    return matches[0]
