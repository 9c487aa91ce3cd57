"""The policy file: TOML or YAML, errors that name the field; eligibility; releases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tocsin.errors import ConfigError
from tocsin.warning.policy import Release, WarningConfig, load_config, load_live_authorisation


def test_defaults() -> None:
    cfg = WarningConfig()
    assert [r.partner for r in cfg.releases] == ["JP", "KR"]
    assert cfg.eligible("confirmed", "ballistic", 0.9)
    assert cfg.eligible("coasting", "ballistic", 0.5)
    # a track with no stated quality is not enough for a public alert (issue 14)
    assert not cfg.eligible("confirmed", "ballistic", None)
    assert cfg.thresholds.trusted_track_partners == []
    assert not cfg.eligible("tentative", "ballistic", 1.0)
    assert not cfg.eligible("confirmed", "air", 1.0)
    assert not cfg.eligible("confirmed", "unknown", 1.0)
    assert not cfg.eligible("confirmed", "ballistic", 0.2)


def test_toml_and_yaml_load_the_same(tmp_path: Path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text(
        'sender = "w@jp.example"\noperators = ["a", "b"]\n'
        "[thresholds]\nmin_quality = 0.7\nmin_impact_probability = 0.05\n"
        '[[releases]]\npartner = "JP"\ncountries = ["JP"]\ninternational = false\n'
        "[lifecycle]\nmin_update_interval_s = 5\n[threat]\nmax_buffer_m = 50000\n"
    )
    yml = tmp_path / "p.yaml"
    yml.write_text(
        "sender: w@jp.example\noperators: [a, b]\n"
        "thresholds: {min_quality: 0.7, min_impact_probability: 0.05}\n"
        "releases: [{partner: JP, countries: [JP], international: false}]\n"
        "lifecycle: {min_update_interval_s: 5}\nthreat: {max_buffer_m: 50000}\n"
    )
    a, b = load_config(toml), load_config(yml)
    assert a == b
    assert a.threat_config().min_impact_probability == 0.05
    assert a.lifecycle.min_update_interval_s == 5
    assert a.releases == [Release(partner="JP", countries=["JP"], international=False)]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[thresholds]\nmin_quality = 2\n", "$.thresholds.min_quality"),
        ("[thresholds]\nmin_qualty = 0.5\n", "min_qualty"),
        ('[[releases]]\npartner = "Japan"\ncountries = ["JP"]\n', "$.releases[0].partner"),
        ("[lifecycle]\nmin_update_interval_s = -1\n", "min_update_interval_s"),
        ("[threat]\nmin_buffer_m = 200000\n", "min_buffer_m"),
        ('sender = "a b"\n', "$.sender"),
        (
            '[[releases]]\npartner = "JP"\ncountries = ["JP"]\n'
            '[[releases]]\npartner = "JP"\ncountries = ["KR"]\n',
            "releases[1].partner",
        ),
        ("[thresholds\n", "not valid toml"),
    ],
)
def test_errors_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    msg = str(ei.value)
    assert str(p) in msg
    assert field in msg
    assert "\n" not in msg


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_release_areas() -> None:
    cfg = WarningConfig()
    jp, kr = cfg.releases
    countries = {"JP-01": "JP", "KR-11": "KR", "sea:JP-01": "JP", "sea:sea-of-japan": ""}
    codes = list(countries)
    assert cfg.release_areas(jp, codes, countries) == {"JP-01", "sea:JP-01", "sea:sea-of-japan"}
    assert cfg.release_areas(kr, codes, countries) == {"KR-11", "sea:sea-of-japan"}
    closed = WarningConfig(releases=[Release(partner="JP", countries=["JP"], international=False)])
    assert closed.release_areas(closed.releases[0], codes, countries) == {"JP-01", "sea:JP-01"}


def test_live_authorisation_file(tmp_path: Path) -> None:
    p = tmp_path / "live.toml"
    p.write_text('live = true\nauthorised_by = "Director"\nreference = "order 9"\nsender = "w@jp.example"\n')
    mode = load_live_authorisation(p)
    assert mode.status == "Actual"
    assert mode.authorisation.reference == "order 9"
    p.write_text('live = false\nauthorised_by = "Director"\nreference = "order 9"\nsender = "w@jp.example"\n')
    with pytest.raises(ConfigError, match=r"\$\.live"):
        load_live_authorisation(p)
    p.write_text('live = true\nreference = "order 9"\nsender = "w@jp.example"\n')
    with pytest.raises(ConfigError, match="authorised_by"):
        load_live_authorisation(p)


def test_one_sender_per_public() -> None:
    from tocsin.warning.policy import Release, WarningConfig

    cfg = WarningConfig(
        sender="warning@tocsin.example",
        releases=[
            Release(partner="JP", countries=["JP"]),
            Release(partner="KR", countries=["KR"]),
            Release(partner="US", countries=["US"], sender="alerts@us.example"),
        ],
    )
    got = [cfg.sender_for(r) for r in cfg.releases]
    assert got == ["warning-jp@tocsin.example", "warning-kr@tocsin.example", "alerts@us.example"]
    assert len(set(got)) == 3
    assert cfg.sender_for(cfg.releases[0], "live@jp.example") == "live-jp@jp.example"
    assert WarningConfig(sender="plain").sender_for(cfg.releases[1]) == "plain-kr"


def test_a_release_time_zone_is_checked(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text('[[releases]]\npartner = "US"\ncountries = ["US"]\ntimezone = "Pacific/Guam"\n')
    assert load_config(p).releases[0].timezone == "Pacific/Guam"
    p.write_text('[[releases]]\npartner = "US"\ncountries = ["US"]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match=r"unknown time zone 'Mars/Olympus'.*releases\[0\]"):
        load_config(p)
