"""Two tracks on one missile, no plot in common: the radars that disagree with
the confirmed one may be the honest ones (``Lifecycle.confirm``, the duplicate
rule; issue 16, freedom-edge/biased-radar).

A tampered radar (+3 km in range, +0.6 deg in azimuth) saw the MRBM first and
its track was confirmed on its plots alone; the three honest radars' tentative
tracks were then each suppressed as "the same missile through a biased sensor"
(twelve in 30 s), and the launch azimuth fitted to the tampered early positions
named two land areas 46-58 km off the path. The rule now keeps the track of
the majority of radars (those that made duplicates of it in the last
``oosm_lag_s`` against those that updated it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tocsin.fusion import Tracker
from tocsin.fusion.measurements import LOS, RADAR

X = np.array([-3.0e6, 4.0e6, 3.8e6, 1000.0, 500.0, 800.0])


def _rec(t: float, sensor: str, kind: int = RADAR) -> tuple[Any, ...]:
    return (t, kind, None, None, None, None, sensor)


def _track(trk: Tracker, t: float, sensors: list[str], kinds: list[int] | None = None) -> Any:
    """A track at ``t`` whose first plot was 4 s earlier (a tentative track
    is confirmed a few scans after its first plot)."""
    life = trk._life
    tr = life.new_track(X.copy(), np.eye(6) * 1e4, t, set(sensors), {"KR"}, t + 0.5)
    tr.created = t - 4.0
    for i, s in enumerate(sensors):
        tr.hist.append((_rec(t - 0.5 * i, s, RADAR if kinds is None else kinds[i]), tr.snapshot()))
    return tr


def _confirmed(trk: Tracker, t: float, sensors: list[str], kinds: list[int] | None = None) -> Any:
    tr = _track(trk, t, sensors, kinds)
    tr.status, tr.cls, tr.phase, tr.id = "confirmed", "ballistic", "boost", trk._life.issue_id()
    tr.reported_status, tr.reported_cls = "confirmed", "ballistic"
    return tr


def test_the_track_of_one_radar_gives_way_to_two_that_disagree_with_it() -> None:
    trk = Tracker()
    life = trk._life
    twin = _confirmed(trk, 100.0, ["KR-R2", "US-S1"], [RADAR, LOS])
    first = _track(trk, 101.0, ["KR-R1"])
    assert life.confirm(first) is False  # one radar against one: the older track stays
    assert first.key not in life.tracks
    assert twin.key in life.tracks
    second = _track(trk, 105.0, ["JP-S1"])
    twin.last_update = 104.5  # the tampered radar still updates it
    assert life.confirm(second) is True  # two radars (in 10 s) against one
    assert twin.key not in life.tracks
    assert second.id == twin.id
    assert second.status == "confirmed"
    assert second.cls == "ballistic"
    assert second.phase == "boost"
    assert second.reported_status == "confirmed"
    assert {"KR-R2", "US-S1", "JP-S1"} <= second.sources
    assert not second.early  # none of the outvoted track's past
    assert trk.stats["duplicates_outvoted"] == 1


def test_dissent_older_than_the_late_report_window_does_not_count() -> None:
    trk = Tracker()
    life = trk._life
    twin = _confirmed(trk, 100.0, ["KR-R2"])
    assert life.confirm(_track(trk, 101.0, ["KR-R1"])) is False
    twin.t = twin.last_update = 112.0
    twin.hist = [(_rec(112.0, "KR-R2"), twin.snapshot())]
    assert life.confirm(_track(trk, 112.0, ["JP-S1"])) is False  # KR-R1's was 11 s ago
    assert twin.key in life.tracks


def test_a_track_held_by_more_radars_keeps_suppressing_its_duplicates() -> None:
    trk = Tracker()
    life = trk._life
    twin = _confirmed(trk, 100.0, ["JP-S1", "JP-S2", "KR-R1"])
    for t, s in ((101.0, "KR-R2"), (103.0, "KR-R3"), (105.0, "KR-R2")):
        twin.last_update = t - 0.5  # its radars hold it
        assert life.confirm(_track(trk, t, [s])) is False
    assert twin.key in life.tracks
    assert trk.stats["duplicates_suppressed"] == 3


def test_a_separated_track_keeps_the_old_rule() -> None:
    trk = Tracker()
    life = trk._life
    twin = _confirmed(trk, 100.0, ["KR-R2"])
    twin.separated = True
    assert life.confirm(_track(trk, 101.0, ["KR-R1"])) is False
    assert life.confirm(_track(trk, 102.0, ["JP-S1"])) is False
    assert twin.key in life.tracks


def test_a_track_no_plot_has_updated_since_the_duplicate_began_is_found_again() -> None:
    # lofted ICBM #40 (MC seed 1): stage 2's track, lost after a long coast
    # 4 km off the stage, suppressed every tentative its own radars made of
    # the stage in re-entry (15 in 72 s) as "its duplicate through a biased
    # sensor", though no plot had updated it since before the first of them
    trk = Tracker()
    life = trk._life
    twin = _confirmed(trk, 3783.0, ["KR-R2", "KR-R3"])
    twin.t = 3797.0  # predicted on (coasting, lost): no plot since 3783
    twin.x[:, 3:] = 0.0
    twin.status, twin.role, twin.separated = "lost", "stage", True
    twin.phase, twin.burnt_out = "ballistic", True
    sib = _confirmed(trk, 3797.0, ["KR-R2"])
    sib.x[:, 0] += 25_000.0  # the re-entry vehicle, 25 km away
    sib.separated, sib.siblings, twin.siblings = True, {twin.key}, {sib.key}
    twin.parent = sib.id
    twin.launch = object()  # type: ignore[assignment]
    new = _track(trk, 3797.0, ["KR-R2"])
    new.x[:, 3:] = 0.0
    life.sensor_t["KR-R2"] = 3797.0  # its radar scanned on and did not update it
    assert life.confirm(new) is True
    assert twin.key not in life.tracks
    assert new.id == twin.id
    assert new.role == "stage"
    assert new.separated
    assert new.parent == sib.id
    assert new.launch is twin.launch  # the object's own past
    assert new.siblings == {sib.key}
    assert sib.siblings == {new.key}
    assert new.status == "confirmed"
    assert trk.stats["duplicates_reacquired"] == 1


def test_a_duplicate_of_a_track_still_updated_keeps_the_old_rule() -> None:
    trk = Tracker()
    life = trk._life
    twin = _confirmed(trk, 3796.0, ["KR-R3"])
    twin.separated = True
    new = _track(trk, 3797.0, ["KR-R2"])  # first plot 3793: the twin took one at 3796
    assert life.confirm(new) is False
    assert twin.key in life.tracks
    assert trk.stats["duplicates_reacquired"] == 0


def test_a_track_whose_radar_has_not_scanned_since_is_not_lost() -> None:
    # a slow honest radar (10-s revisit) holds the track; a faster radar's
    # tentative, begun after its last scan, is confirmed before its next one:
    # the vote (one against one: the older track stays), not a re-acquisition
    trk = Tracker()
    life = trk._life
    twin = _confirmed(trk, 100.0, ["JP-S1"])
    twin.t, twin.status = 106.0, "lost"
    life.sensor_t.update({"JP-S1": 100.0, "KR-R2": 106.0})
    new = _track(trk, 106.0, ["KR-R2"])  # first plot at 102
    assert life.confirm(new) is False
    assert twin.key in life.tracks
    assert trk.stats["duplicates_reacquired"] == 0
    life.sensor_t["JP-S1"] = 110.0  # it scanned at 110 and did not update the track
    new = _track(trk, 110.0, ["KR-R2"])
    twin.t, twin.status = 110.0, "coasting"
    assert life.confirm(new) is False  # a scan or two without a plot: not lost
    twin.status = "lost"
    new = _track(trk, 110.0, ["KR-R2"])
    assert life.confirm(new) is True
    assert trk.stats["duplicates_reacquired"] == 1
