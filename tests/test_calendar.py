"""Working days on the Chinese calendar: the facts of product.md and the conservative guess."""

import datetime as dt

import chinese_calendar
import pytest
from click.testing import CliRunner

from privacy_service import calendar as cal
from privacy_service.calendar import WorkingCalendar, YearCalendar, receipt_day

D = dt.date
MAKEUP_DAYS = {
    2024: [
        "2024-02-04",
        "2024-02-18",
        "2024-04-07",
        "2024-04-28",
        "2024-05-11",
        "2024-09-14",
        "2024-09-29",
        "2024-10-12",
    ],
    2025: ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
    2026: ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
}


@pytest.fixture(scope="module")
def china():
    return WorkingCalendar()


@pytest.mark.parametrize(
    ("received", "due"),
    [("2025-09-26", "2025-10-23"), ("2026-01-30", "2026-02-27")],
)
def test_facts_from_the_product_brief(china, received, due):
    deadline = china.add_working_days(D.fromisoformat(received), 15)
    assert deadline == cal.Deadline(D.fromisoformat(due), provisional=False)


@pytest.mark.parametrize("day", [d for days in MAKEUP_DAYS.values() for d in days])
def test_every_makeup_day_of_2024_to_2026_is_a_working_day(china, day):
    day = D.fromisoformat(day)
    assert day.weekday() >= 5, "make-up days fall on weekends"
    assert china.is_working_day(day)


def test_makeup_day_counts_toward_a_deadline(china):
    # Received Friday 2026-02-13: Saturday 02-14 is a make-up working day, so it is day 1.
    assert china.add_working_days(D(2026, 2, 13), 1).due_date == D(2026, 2, 14)


def test_receipt_day_never_counts_even_when_it_is_a_holiday(china):
    # Received on National Day: day 1 is the first working day after it (Oct 9, 2025).
    assert china.add_working_days(D(2025, 10, 1), 1).due_date == D(2025, 10, 9)
    # Received on a working day: the next working day is day 1.
    assert china.add_working_days(D(2025, 9, 25), 1).due_date == D(2025, 9, 26)


def test_receipt_day_is_taken_in_shanghai():
    # 2025-09-25 17:00 UTC is already 2025-09-26 in Shanghai.
    moment = dt.datetime(2025, 9, 25, 17, 0, tzinfo=dt.UTC)
    assert receipt_day(moment) == D(2025, 9, 26)
    with pytest.raises(ValueError, match="aware"):
        receipt_day(dt.datetime(2025, 9, 25, 17, 0))


def test_unknown_year_is_provisional(china):
    deadline = china.add_working_days(D(2026, 12, 20), 15)
    assert deadline.provisional
    assert not china.add_working_days(D(2026, 11, 2), 15).provisional


def test_conservative_guess_is_never_later_than_the_truth():
    """Pretend each known year is unknown: the guess must never give a later due date."""
    for start in (D(2024, 1, 1) + dt.timedelta(days=i) for i in range(365 * 3 - 40)):
        true_due = WorkingCalendar().add_working_days(start, 15).due_date
        guessed, day, counted = None, start, 0
        while counted < 15:
            day += dt.timedelta(days=1)
            counted += cal._maybe_working_day(day)
        guessed = day
        assert guessed <= true_due, f"received {start}: guessed {guessed} after true {true_due}"


def test_python_holidays_alone_would_be_wrong_for_2026():
    # Why we do not trust `holidays` as the calendar: it has no make-up working days.
    import holidays

    makeup = D(2026, 2, 14)
    assert makeup not in holidays.China(years=2026)
    assert makeup.weekday() == 5 and chinese_calendar.is_workday(makeup)


def test_operator_calendar_file_makes_a_year_known():
    official = YearCalendar(
        year=2027,
        holidays=frozenset({D(2027, 1, 1)}),
        workdays=frozenset({D(2027, 1, 9)}),
        source="test notice",
    )
    calendar = WorkingCalendar([official])
    assert calendar.is_known(2027)
    assert calendar.is_working_day(D(2027, 1, 9))  # a Saturday made a working day
    assert not calendar.is_working_day(D(2027, 1, 1))
    assert not calendar.add_working_days(D(2026, 12, 20), 15).provisional


def test_working_days_between(china):
    assert china.working_days_between(D(2025, 9, 26), D(2025, 10, 23)) == 15
    assert china.working_days_between(D(2025, 10, 23), D(2025, 9, 26)) == -15
    assert china.working_days_between(D(2025, 9, 26), D(2025, 9, 26)) == 0


def test_cli_due(repo_root, tmp_path, monkeypatch):
    from privacy_service.cli import main

    monkeypatch.setenv("PRIVACY_INSTANCE_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(main, ["calendar", "due", "2025-09-26"]).output.strip() == "2025-10-23"
    assert runner.invoke(main, ["calendar", "due", "2026-01-30"]).output.strip() == "2026-02-27"
    assert (
        runner.invoke(main, ["calendar", "due", "2026-01-30", "--days", "1"]).output.strip()
        == "2026-02-02"
    )
    out = runner.invoke(main, ["calendar", "due", "2026-12-20"]).output.strip()
    assert out.endswith(" provisional") and out.startswith("2027-")
    bad = runner.invoke(main, ["calendar", "due", "2026-13-01"])
    assert bad.exit_code != 0 and "Invalid value" in bad.output
