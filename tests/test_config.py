from pathlib import Path

import pytest

from luxlogd.config import ConfigError, format_config, load_config, require_host

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path, text):
    path = tmp_path / "luxlogd.toml"
    path.write_text(text)
    return path


def test_defaults_match_the_specification(tmp_path):
    config = load_config(None, environ={})
    assert config.heatpump.port == 8889
    assert config.heatpump.timeout_s == 60
    assert config.heatpump.retries == 3
    assert config.heatpump.backoff_s == 2
    assert config.poll.interval_s == 30
    assert config.storage.state_dir == "/var/lib/luxlogd"
    assert config.storage.retention_days == 400
    assert config.reports.output_dirs == ("/var/lib/luxlogd/reports",)
    assert config.reports.time == "07:00"
    assert config.reports.retention_days == 30
    assert config.reports.sensors == ("calculations",)
    assert config.reports.formats == ("csv",)
    assert config.disk.usage_threshold_percent == 90
    assert config.web.enabled is True
    assert config.web.listen == "127.0.0.1:8088"
    assert config.web.token == ""
    assert config.schedule.internal == "auto"
    assert config.log.level == "info"


def test_example_file_loads_and_documents_every_key():
    example = REPO / "luxlogd.toml.example"
    config = load_config(example, environ={})
    assert config.heatpump.host == "192.168.1.50"
    text = example.read_text()
    for line in format_config(config).splitlines():
        if " = " in line:
            key = line.split(" = ")[0]
            assert f"\n{key} = " in text, f"{key} is not documented in the example"


def test_file_values_and_environment_overrides(tmp_path):
    path = write(tmp_path, '[heatpump]\nhost = "10.0.0.5"\nport = 8888\n[reports]\ntime = "6:30"\n')
    config = load_config(
        path,
        environ={
            "LUXLOGD_HEATPUMP_HOST": "heatpump.lan",
            "LUXLOGD_POLL_INTERVAL_S": "15",
            "LUXLOGD_REPORTS_FORMATS": "csv, JSON",
            "LUXLOGD_WEB_ENABLED": "no",
            "LUXLOGD_REPORTS_OUTPUT_DIRS": '["/a", "/b"]',
        },
    )
    assert config.heatpump.host == "heatpump.lan"
    assert config.heatpump.port == 8888
    assert config.poll.interval_s == 15
    assert config.reports.time == "06:30"
    assert config.reports.formats == ("csv", "json")
    assert config.reports.output_dirs == ("/a", "/b")
    assert config.web.enabled is False


def test_state_directory_from_systemd_and_report_dir_follows_it(tmp_path):
    config = load_config(None, environ={"STATE_DIRECTORY": "/var/lib/luxlogd2:/other"})
    assert config.storage.state_dir == "/var/lib/luxlogd2"
    assert config.reports.output_dirs == ("/var/lib/luxlogd2/reports",)


def test_config_lookup_uses_the_environment_variable(tmp_path):
    path = write(tmp_path, '[heatpump]\nhost = "from-env-file"\n')
    assert load_config(None, environ={"LUXLOGD_CONFIG": str(path)}).heatpump.host == "from-env-file"


def test_legacy_keys_map_to_the_new_ones_with_a_warning(tmp_path):
    path = write(
        tmp_path,
        'HOST = "1.2.3.4"\nPORT = 8888\nINTERVAL_SEC = 60\nCSV_TIME = "08:15"\n'
        'CACHE_PATH = "/srv/lux"\nOUTPUT_DIRS = "/srv/reports"\n',
    )
    config = load_config(path, environ={})
    assert config.heatpump.host == "1.2.3.4"
    assert config.heatpump.port == 8888
    assert config.poll.interval_s == 60
    assert config.reports.time == "08:15"
    assert config.storage.state_dir == "/srv/lux"
    assert config.reports.output_dirs == ("/srv/reports",)
    assert any("HOST is deprecated, use heatpump.host" in w for w in config.warnings)


def test_every_problem_is_reported_at_once_with_source_key_expected_and_found(tmp_path):
    path = write(
        tmp_path,
        '[heatpump]\nport = "8889x"\nretries = -1\ncolour = "red"\n'
        '[poll]\ninterval_s = 0.01\n[reports]\ntime = "25:00"\nformats = ["csv", "xls"]\n'
        '[web]\nenabled = "maybe"\n[nonsense]\nx = 1\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"LUXLOGD_DISK_USAGE_THRESHOLD_PERCENT": "120"})
    problems = caught.value.problems
    assert f'{path}: heatpump.port: expected an integer 1-65535, got "8889x"' in problems
    assert f"{path}: heatpump.retries: expected an integer 0-100, got -1" in problems
    assert any(p.startswith(f"{path}: heatpump.colour: unknown key") for p in problems)
    assert f"{path}: poll.interval_s: expected a number >= 0.1 and <= 86400, got 0.01" in problems
    assert f'{path}: reports.time: expected a time "HH:MM" (00:00-23:59), got "25:00"' in problems
    assert f'{path}: reports.formats: expected a list of csv, json, dta, got "xls"' in problems
    assert f'{path}: web.enabled: expected true or false, got "maybe"' in problems
    assert any(p.startswith(f"{path}: nonsense: unknown section") for p in problems)
    assert (
        "environment LUXLOGD_DISK_USAGE_THRESHOLD_PERCENT: disk.usage_threshold_percent: "
        'expected a number >= 1 and <= 100, got "120"'
    ) in problems
    assert len(problems) == 9


def test_broken_toml_missing_file_and_unknown_variable_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[heatpump\nhost="), environ={})
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml", environ={})
    with pytest.raises(ConfigError, match="LUXLOGD_HEATPUMP_HOSTNAME: unknown variable"):
        load_config(None, environ={"LUXLOGD_HEATPUMP_HOSTNAME": "x"})
    with pytest.raises(ConfigError, match="expected a table"):
        load_config(write(tmp_path, "heatpump = 3\n"), environ={})


def test_low_interval_warns_and_odd_values_are_checked(tmp_path):
    config = load_config(None, environ={"LUXLOGD_POLL_INTERVAL_S": "2"})
    assert any("below 10 s" in w for w in config.warnings)
    for env, needle in [
        ({"LUXLOGD_WEB_LISTEN": "localhost"}, "HOST:PORT"),
        ({"LUXLOGD_WEB_LISTEN": "[::1]:99999"}, "HOST:PORT"),
        ({"LUXLOGD_SCHEDULE_INTERNAL": "sometimes"}, '"auto", true or false'),
        ({"LUXLOGD_LOG_LEVEL": "loud"}, "one of"),
        ({"LUXLOGD_HEATPUMP_TIMEOUT_S": "0"}, "a number > 0"),
        ({"LUXLOGD_HEATPUMP_HOST": "bad host!"}, "host name or IP"),
        ({"LUXLOGD_REPORTS_SENSORS": ""}, "non-empty"),
        ({"LUXLOGD_REPORTS_OUTPUT_DIRS": "[1, 2"}, "a list of strings"),
        ({"LUXLOGD_HEATPUMP_TIMEOUT_S": "true"}, "a number"),
    ]:
        with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("(", r"\(")):
            load_config(None, environ=env)
    assert (
        load_config(None, environ={"LUXLOGD_SCHEDULE_INTERNAL": "true"}).schedule.internal == "on"
    )
    assert (
        load_config(write(tmp_path, "[schedule]\ninternal = false\n"), environ={}).schedule.internal
        == "off"
    )


def test_run_needs_a_host_and_the_token_is_masked(tmp_path):
    with pytest.raises(ConfigError, match="heatpump.host: expected a host name"):
        require_host(load_config(None, environ={}))
    text = format_config(load_config(None, environ={"LUXLOGD_WEB_TOKEN": "s3cret"}))
    assert "s3cret" not in text and 'token = "********"' in text
