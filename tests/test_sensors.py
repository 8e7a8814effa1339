"""heatpump/catalogue.py and heatpump/sensors.py: what a sensor is and its value in a poll."""

import dataclasses

from luxlogd.heatpump import catalogue, sensors
from luxlogd.heatpump.poll import Poll
from tests.crash_writer import poll_for

BY_KEY = catalogue.by_key()


def with_calculation(poll, index, raw):
    calculations = list(poll.calculations)
    calculations[index] = raw
    return dataclasses.replace(poll, calculations=tuple(calculations))


def test_a_rail_value_means_not_connected_and_75_only_where_implausible():
    outdoor, hot_gas, flow = BY_KEY["outdoor"], BY_KEY["hot_gas"], BY_KEY["flow"]
    assert outdoor.not_connected(-50.0) and outdoor.not_connected(150.0)
    assert outdoor.not_connected(75.0)  # outdoor ends at 50: 75.0 is a rail
    assert not hot_gas.not_connected(75.0)  # a hot-gas temperature of 75 is real
    assert not flow.not_connected(34.2) and not flow.not_connected(None)
    assert not BY_KEY["compressor_starts"].not_connected(150.0)  # only temperatures rail


def test_a_sensors_value_and_reading_in_a_poll():
    poll = with_calculation(poll_for(1, block=0), 15, 42)  # outdoor 4.2 °C
    assert sensors.value(poll, "outdoor") == 4.2
    assert sensors.reading(poll, BY_KEY["outdoor"]) == 4.2
    railed = with_calculation(poll, 15, -500)
    assert sensors.value(railed, "outdoor") == -50.0  # the value, as decoded
    assert sensors.reading(railed, BY_KEY["outdoor"]) is None  # but not a temperature
    short = Poll(1, 0, poll.parameters, poll.calculations[:10], poll.visibilities)
    assert sensors.value(short, "outdoor") is None  # an older firmware's shorter array
    assert short.lengths_by_group() == {"parameters": 1143, "calculations": 10, "visibilities": 366}
