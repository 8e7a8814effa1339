"""Doctor's plausibility section: every sensor with a range, day by day, from the hourly
figures (a year in about a second); stuck sensors; counters hour by hour."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from luxlogd.base.times import date_text, utc_date_text
from luxlogd.base.words import count, language, plain, tr
from luxlogd.doctor.report import Section
from luxlogd.heatpump import catalogue, sensors
from luxlogd.store.chunks import DAY_MS, Bucket, series_id
from luxlogd.store.reader import Reader


def plausibility(reader: Reader) -> Section:
    """Every sensor with a range, day by day; stuck sensors; counters hour by hour."""
    section = Section("plausibility")
    stats = reader.stats()
    latest = reader.latest()
    if stats.first_ms is None or stats.last_ms is None or latest is None:
        return section
    start = stats.first_ms - stats.first_ms % DAY_MS
    whole_days = -(-(stats.last_ms + 1 - start) // DAY_MS)
    end = start + whole_days * DAY_MS  # whole days and hours: buckets fall on hourly figures
    ranged = [
        s
        for s in catalogue.SENSORS
        if s.low is not None and s.high is not None and not s.counter and _connected(s, latest)
    ]
    counters = [s for s in catalogue.SENSORS if s.counter and _connected(s, latest)]
    ids = {s.key: series_id(s.group, s.index) for s in ranged + counters}
    points = {ids[s.key]: whole_days for s in ranged} | {
        ids[s.key]: whole_days * 24 for s in counters
    }
    buckets = reader.buckets_of(list(ids.values()), start, end, points)
    out, rails, stuck = [], [], []
    for sensor in ranged:
        found = sensors.sensor_field(sensor.key)
        days = buckets[ids[sensor.key]]
        low = [(b, _decode(found, b.minimum)) for b in days]
        high = [(b, _decode(found, b.maximum)) for b in days]
        lo, hi = sensor.low or 0.0, sensor.high or 0.0  # both set: `ranged` holds no others
        bad = [(b, v) for b, v in low + high if v is not None and not lo <= v <= hi]
        railed = [b for b, v in bad if sensor.not_connected(v)]
        bad = [(b, v) for b, v in bad if b not in railed]
        if railed:
            rails.append(
                tr(
                    "{label} on {days}",
                    label=sensor.text(language()),
                    days=count(len({b.start_ms for b in railed}), "day"),
                )
            )
        if bad:
            worst = max(bad, key=lambda item: abs(item[1]))
            out.append(
                tr(
                    "{label} on {days} (e.g. {value} on {day})",
                    label=sensor.text(language()),
                    days=count(len({b.start_ms for b, _ in bad}), "day"),
                    value=plain(worst[1]),
                    day=_day(worst[0].start_ms),
                )
            )
        if sensor.key in catalogue.CHANGING:
            run = _longest_constant(days)
            if run is not None and run[1] - run[0] >= catalogue.STUCK_AFTER_S * 1000:
                stuck.append(
                    tr(
                        "{label} from {start} to {end}",
                        label=sensor.text(language()),
                        start=_day(run[0]),
                        end=_day(run[1] - 1),
                    )
                )
    section.facts.update(out_of_range=out, rail_values=rails, stuck=stuck)
    _report(
        section,
        out,
        tr("values outside their plausible range: "),
        "ok",
        tr("all readings within their plausible ranges"),
        tr(
            "a sensor or its wiring may be failing; the values are stored as read, check them "
            "in the charts"
        ),
    )
    _report(
        section,
        rails,
        tr("connected sensors that read the not-connected value: "),
        None,
        "",
        tr("a loose contact or a broken sensor (a service call if it recurs)"),
    )
    _report(
        section,
        stuck,
        tr("sensors that did not change for days: "),
        "ok",
        tr("no sensor stuck"),
        tr(
            "a stuck sensor or a hung controller: restart the controller; if it stays, have the "
            "sensor checked"
        ),
    )
    _counters(section, counters, {s.key: buckets[ids[s.key]] for s in counters})
    return section


def _report(
    section: Section, found: list[str], prefix: str, clean: str | None, clean_text: str, advice: str
) -> None:
    if found:
        section.add("warning", prefix + "; ".join(found[:6]), advice)
    elif clean is not None:
        section.add(clean, clean_text)


def _day(ms: int) -> str:
    """A sealed day (named by its UTC date) as people read it."""
    return date_text(dt.date.fromisoformat(utc_date_text(ms)))


def _connected(sensor: catalogue.Sensor, poll: Any) -> bool:
    value = sensors.value(poll, sensor.key)
    return value is not None and not sensor.not_connected(value)


def _decode(found: sensors.Field, raw: float) -> float | None:
    value = found.decode([int(raw)])
    return float(value) if isinstance(value, int | float) else None


def _longest_constant(buckets: Sequence[Bucket]) -> tuple[int, int] | None:
    """The longest run of consecutive days whose readings were all one and the same value."""
    best, run = None, None
    for bucket in buckets:
        constant = bucket.count and bucket.minimum == bucket.maximum
        if constant and run is not None and run[2] == bucket.minimum and bucket.start_ms == run[1]:
            run = (run[0], bucket.start_ms + DAY_MS, run[2])
        elif constant:
            run = (bucket.start_ms, bucket.start_ms + DAY_MS, bucket.minimum)
        else:
            run = None
        if run is not None and (best is None or run[1] - run[0] > best[1] - best[0]):
            best = (run[0], run[1])
    return best


def _counters(
    section: Section, counters: Sequence[catalogue.Sensor], hours: dict[str, list[Bucket]]
) -> None:
    """Counters hour by hour: an hour whose lowest reading is below the hour before's highest
    went backwards somewhere in between."""
    found = []
    for sensor in counters:
        previous = None
        drops = []
        for bucket in hours[sensor.key]:
            if previous is not None and bucket.minimum < previous.maximum:
                drops.append((previous, bucket))
            previous = bucket
        if drops:
            field = sensors.sensor_field(sensor.key)
            before, after = drops[0]
            found.append(
                tr(
                    "{label} {times} (first on {day}: {before} to {after})",
                    label=sensor.text(language()),
                    times=count(len(drops), "time"),
                    day=_day(after.start_ms),
                    before=plain(_decode(field, before.maximum) or 0.0),
                    after=plain(_decode(field, after.minimum) or 0.0),
                )
            )
    section.facts["counters_backwards"] = found
    _report(
        section,
        found,
        tr("counters that went backwards: "),
        "ok",
        tr("every counter only grew"),
        tr(
            "readings of a disturbed controller, or the controller was replaced or reset: "
            "statistics skip such steps (luxlogd stats notes them)"
        ),
    )
