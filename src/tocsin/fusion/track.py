"""One track's state: its IMM filter, lifecycle, class, launch and impact.

A :class:`Track` is a plain record that the tracker's steps read and write:
estimation (:mod:`tocsin.fusion.estimation`: ``x, p, mu, t``, the history
``hist`` for late reports), lifecycle (:mod:`tocsin.fusion.lifecycle`:
``status``, ``window``, ``last_update``), classification and ballistic
estimation (:mod:`tocsin.fusion.ballistic`: ``cls``, ``phase``, votes,
``burnt_out``, ``launch``, ``impact``) and reports
(:mod:`tocsin.fusion.reports`: ``id``, ``last_report``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, fields
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tocsin.fusion import kernels
from tocsin.fusion.drag import DragBank
from tocsin.fusion.impact import Impact, Launch
from tocsin.fusion.measurements import MeasRecord

F64 = NDArray[np.float64]

Snapshot = tuple[F64, F64, F64, float, DragBank | None]
"""A track's filter state: IMM states ``x (2, 6)``, ``p``, ``mu``, time, drag bank."""


@dataclass(slots=True)
class Track:
    key: int
    x: F64  # (2, 6)
    p: F64  # (2, 6, 6)
    mu: F64  # (2,)
    t: float
    created: float
    window: deque[int]
    sources: set[str]
    partners: set[str]
    id: str | None = None
    status: str = "tentative"
    reported_status: str = ""  # the status of the last report (a change is reported at once)
    cls: str = "unknown"
    phase: str = "unknown"
    last_update: float = 0.0  # measurement time of the newest plot that updated it
    last_arrival: float = -math.inf  # when that plot (or partner track) arrived (its sent time)
    #: measurement time of the newest update that placed it in 3-D (a radar plot,
    #: a partner track, its initiation); a line of sight fixes only two axes
    last_fix: float = -math.inf
    #: measurement time of the newest space-infrared line of sight that updated
    #: it (space infrared sees only burning motors)
    last_los: float = -math.inf
    last_quiet_sent: float = -math.inf  # arrival clock of its last predicted report
    last_report: float = -math.inf
    last_predicted_report: float = -math.inf  # a report of the prediction (no plot)
    # what the last report said (tocsin.fusion.reports.Reporter.news)
    reported_cls: str = "unknown"
    reported_impact: Impact | None = None
    reported_phase: str = "unknown"
    #: the launch azimuth and its sigma (degrees) last reported
    reported_azimuth: tuple[float, float] | None = None
    updates: int = 0
    votes_b: int = 0
    votes_a: int = 0
    burnt_out: bool = False
    burnout_t: float = -math.inf  # when burnout was declared
    quiet: int = 0
    #: its own plots showed it coasting (the burnout test): a piece confirmed
    #: at a separation is declared past burnout without that (``Lifecycle.confirm``)
    coast_seen: bool = False
    coast_votes: int = 0
    speeds: deque[tuple[float, F64, float]] = field(default_factory=deque)
    kin: deque[tuple[float, F64, F64]] = field(default_factory=deque)  # for the lift test
    lift: int = 0  # -1 no lift, +1 lift, 0 undecided (the last lift test)
    #: (t, position, height) while a ballistic track flies slow and low (Ballistic.demote)
    level: deque[tuple[float, F64, float]] = field(default_factory=deque)
    ir_cued: bool = False  # seen burning by space infrared before it was tracked
    first: tuple[F64, F64, float] | None = None
    early: list[tuple[float, F64, float]] = field(default_factory=list)
    launch: Launch | None = None
    #: the launch point and azimuth estimated during boost (reported while the
    #: track is boosting and has no post-burnout ``launch``)
    boost_launch: Launch | None = None
    last_boost_launch: float = -math.inf
    impact: Impact | None = None
    last_impact: float = -math.inf
    last_launch: float = -math.inf
    impact_basis: float = -math.inf
    drag: DragBank | None = None  # the ballistic coefficient (missiles past burnout)
    separated: bool = False  # seen to part from another object (tocsin.fusion.separation)
    siblings: set[int] = field(default_factory=set)  # keys of the objects it parted from or with
    #: the direction of flight (unit, ECEF) and the time of its latest parting
    #: (``Lifecycle.confirm``): the axis of "ahead or behind" (:func:`separation.behind`)
    part_dir: F64 | None = None
    part_t: float = -math.inf
    parent: str | None = None  # id of the track it separated from
    confirmed_t: float = math.inf  # track time at its confirmation (Lifecycle.confirm, a partner's report)
    role: str | None = None  # rv, stage or debris, once told
    #: the role the geometry told (:func:`separation.decide_roles`): the split
    #: drag bank's prior follows it (:func:`separation.retold`); a role told by
    #: the drag bank is the bank's own posterior, not a prior for it
    told: str | None = None
    #: the key of the sibling that took the plots of the piece this track was
    #: on when plots stopped updating it (:func:`separation.same_piece`; None:
    #: none known, or updated again since)
    same_piece: int | None = None
    #: whether the geometry still supports ``told``: the pair was clearly apart
    #: when it told the role, and two tracks collapsed into blends inside the
    #: bar (:func:`separation.decide_roles`) say nothing of which piece each is
    #: on; the split bank's prior is then the role-unknown mixture
    #: (:attr:`prior_role`) until the geometry tells a role again (a lost
    #: track is predicted with ``told`` all the same: :attr:`prior_role`)
    told_holds: bool = True
    #: track time when the geometry told ``told``; with ``part_t`` it is how
    #: long the pair took to be told apart (:func:`separation.decide_roles`)
    told_t: float = -math.inf
    #: track time since which this track and a sibling told the other role
    #: have been inside the bar, both seen (None: not now)
    inside_t: float | None = None
    manoeuvring: bool = False  # a re-entry manoeuvre seen (the drag model no longer holds)
    nis_hits: list[bool] = field(default_factory=list)  # manoeuvre model in the lead at the last updates
    lift_votes: int = 0  # updates running with lift across the velocity (Ballistic.reentry_lift)
    max_alt: float = 0.0  # highest well-estimated height seen, m
    #: the plots that started it (sensor, measurement time): not in ``hist``
    #: (no update made from them), but as much its plots for a co-detection
    #: (:func:`tocsin.fusion.separation.codetections`)
    born: tuple[tuple[str, float], ...] = ()
    #: (sensor, measurement time) of the newest scan counted in ``window`` (a
    #: scan processed in pieces is one detection opportunity: Lifecycle.misses)
    opp: tuple[str, float] | None = None
    #: the radars' registration-bias consider covariance (6 x 6) of the state
    #: at time t, that state (Ballistic.bias_consider): kept and propagated
    #: while no radar is in the track's last oosm_lag_s (coasting, infrared only)
    bias_consider: tuple[float, F64, F64] | None = None
    #: the filter's sensitivity to its radars' biases (TrackerConfig.bias_sensitivity):
    #: (time, combined state then, sensor -> S (6 x 4)) after each update of the
    #: last oosm_lag_s (the oldest at or before the oldest ``hist`` snapshot:
    #: a re-filter from a snapshot goes back to the entry of its time)
    bias_sens: list[tuple[float, F64, dict[str, F64]]] = field(default_factory=list)
    #: radars whose plots made a track suppressed as this one's duplicate
    #: (sensor -> that track's time; Lifecycle.confirm counts them against its own)
    dissent: dict[str, float] = field(default_factory=dict)
    # the updates of the last oosm_lag_s, each with the state before it (plain
    # tuples: see tocsin.fusion.measurements.MeasRecord)
    hist: list[tuple[MeasRecord, Snapshot]] = field(default_factory=list)
    dead: bool = False
    coast_from: Snapshot | None = None
    xc: F64 | None = None  # cached combined estimate at ``t``
    pc: F64 | None = None
    # sorted sources and partners for messages (the sets only grow: cached by size)
    src_sorted: list[str] = field(default_factory=list)
    par_sorted: list[str] = field(default_factory=list)

    def sorted_sources(self) -> tuple[list[str], list[str]]:
        """Sorted sources and partners, the same list objects until a set
        grows (messages share them: never mutated, replaced on change)."""
        if len(self.src_sorted) != len(self.sources):
            self.src_sorted = sorted(self.sources)
        if len(self.par_sorted) != len(self.partners):
            self.par_sorted = sorted(self.partners)
        return self.src_sorted, self.par_sorted

    def snapshot(self) -> Snapshot:
        """The filter state (for re-filtering a late report from it)."""
        return (self.x, self.p, self.mu, self.t, self.drag)

    def restore(self, snap: Snapshot, keep_bank: bool = False) -> None:
        """Put back the filter state ``snap`` (re-filtering a late report
        from it). The drag bank is a belief about the object coasting since
        its last burnout (``burnout_t``; every bank is made after it and
        :meth:`reignite` withdraws it), so a state from before that burnout
        (or a track boosting again) gets no bank, whatever the snapshot
        holds: its members would read the thrust the replayed plots still
        carry as drag (MC lofted ICBM seed 1 index 5: a child confirmed at
        separation on the still-burning stack counts as burnt out from its
        confirmation and got a bank at once; a late plot 0.6 s older kept
        it, its members read the second stage's thrust as drag, the stack
        became "debris", which never reignites: rv median impact error 8.5
        -> 548 km). A later state that holds no bank gets the one made since
        when ``keep_bank`` (:meth:`Estimator.refilter
        <tocsin.fusion.estimation.Estimator.refilter>` says when), from its
        prior (:meth:`DragBank.fresh`), to weigh the re-filtered plots
        again."""
        bank = self.drag
        self.x, self.p, self.mu, self.t, self.drag = snap
        if not self.burnt_out or self.t < self.burnout_t:
            self.drag = None
        elif self.drag is None and bank is not None and keep_bank:
            self.drag = bank.fresh()
        self.xc = self.pc = None

    def reignite(self) -> None:
        """A next stage burning: the missile is boosting again; its impact,
        drag belief and manoeuvre verdict are withdrawn until the next
        burnout (the speed window starts afresh), and a spent role told
        before it (a piece seen burning is not spent: told again by the
        geometry or the drag once it coasts)."""
        if self.role in ("stage", "debris"):
            self.role = None
        if self.told in ("stage", "debris"):
            self.told = None
            self.told_holds = True
            self.inside_t = None
        self.coast_seen = False
        self.coast_votes = 0
        self.burnt_out = False
        self.phase = "boost"
        self.impact = None
        self.drag = None
        self.bias_consider = None
        self.manoeuvring = False
        self.lift_votes = 0
        self.speeds.clear()
        self.quiet = 0

    def declare_manoeuvre(self) -> None:
        """A re-entry manoeuvre seen (pull-up, glide, dive): the drag model
        no longer holds; the bank keeps only its belief about beta, and the
        IMM goes on (its impact: the glide footprint,
        :mod:`tocsin.fusion.manoeuvre`)."""
        self.manoeuvring = True
        self.nis_hits = []
        self.lift_votes = 0
        if self.drag is not None:
            self.drag = self.drag.with_states(None, None)

    def demote(self) -> None:
        """Not a missile after all (``Ballistic.demote``): an aircraft, with
        everything the ballistic estimation built on it withdrawn."""
        self.cls, self.phase = "air", "unknown"
        self.burnt_out, self.burnout_t = False, -math.inf
        self.launch = self.boost_launch = None
        self.impact = None
        self.drag = None
        self.bias_consider = None
        self.manoeuvring = False
        self.lift_votes = 0
        self.ir_cued = False
        self.votes_b = self.votes_a = 0
        self.level.clear()
        self.speeds.clear()
        self.kin.clear()
        self.quiet = 0

    @property
    def prior_role(self) -> str | None:
        """The role whose prior the split drag bank carries
        (:func:`separation.prior_parts`): the role the geometry told while
        the geometry still supports it, else None (role unknown); and while
        the track is lost, the role the geometry last told, released or not.

        A release (``told_holds`` False) is the pair seen as blends inside
        the bar: no evidence for another role, only none for this one while
        plots may still go either way. A lost track takes no plot: its
        prediction is the piece it was told to be, or a mixture of both
        pieces' drag for the rest of the flight (MC seed 1 lofted ICBM #61,
        biased radars: the rv's track, told ``rv`` 31 s after the parting,
        released 52 s later, lost 29 s after that for ~3,400 s of unobserved
        midcourse with the mixture's prior: final error 1.3 -> 10.5 km).
        Plots again (re-acquired), the release holds as before."""
        if self.told_holds or self.status == "lost":
            return self.told
        return None

    @property
    def ballistic(self) -> bool:
        return self.cls == "ballistic"

    def combined(self) -> tuple[F64, F64]:
        if self.xc is None or self.pc is None:
            xc, pc = kernels.imm_combine(self.x[None], self.p[None], self.mu[None])
            self.xc, self.pc = xc[0], pc[0]
        return self.xc, self.pc

    # ------------------------------------------------------------ pickling
    # A snapshot of a node's stages pickles every track, and ``hist`` is most
    # of a track: oosm_lag_s of updates, each with seven small arrays. Pickled
    # one by one (about 50 us an entry) a dense air picture's state took
    # longer to write than the data it stood for (20,000 plots/s: 198,508
    # entries, 188 MB, 9.5 CPU-s). Column by column, same-shape arrays stacked,
    # it is a copy of the bytes; what comes back is equal value for value,
    # and arrays one entry shared stay shared (``_pack_hist``).

    def __getstate__(self) -> list[Any]:
        return [_pack_hist(self.hist) if f == "hist" else getattr(self, f) for f in _FIELDS]

    def __setstate__(self, state: list[Any]) -> None:
        for f, v in zip(_FIELDS, state, strict=True):
            object.__setattr__(self, f, _unpack_hist(v) if f == "hist" else v)


_FIELDS = tuple(f.name for f in fields(Track))


def _pack_hist(hist: list[tuple[MeasRecord, Snapshot]]) -> Any:
    """``hist`` as columns: each position of the records and of the
    snapshots either a stack of C-contiguous arrays of one shape and dtype
    (one row per distinct array object, and for each entry which row) or the
    plain list of its values. Anything else (entries of other lengths) stays
    as it is. (Loops over entries run in C: map/zip/set.)"""
    if not hist or set(map(len, hist)) != {2}:
        return hist
    recs, snaps = list(map(_first, hist)), list(map(_second, hist))
    lens = set(map(len, recs)), set(map(len, snaps))
    if len(lens[0]) != 1 or len(lens[1]) != 1:
        return hist
    return (
        "tocsin-hist-2",
        [_pack_column(c) for c in zip(*recs, strict=True)],
        [_pack_column(c) for c in zip(*snaps, strict=True)],
    )


_first, _second = itemgetter(0), itemgetter(1)
_shape, _dtype = attrgetter("shape"), attrgetter("dtype")
_writeable = attrgetter("flags.writeable")
#: the range of a column of ints packed as an int64 array
_I64 = (-(2**63), 2**63 - 1)


def _pack_column(vals: tuple[Any, ...]) -> tuple[Any, ...]:
    types = set(map(type, vals))
    if (
        types == {np.ndarray}
        and len(shapes := set(map(_shape, vals))) == 1
        and len(dtypes := set(map(_dtype, vals))) == 1
        and all(map(_writeable, vals))
    ):
        shape, dtype = shapes.pop(), dtypes.pop()
        if shape and not dtype.hasobject:
            ids = list(map(id, vals))
            uniq = dict(zip(ids, vals, strict=True))
            try:  # (the rows' bytes one after the other: np.stack is ~10x slower)
                raw = bytearray().join(uniq.values())
            except (BufferError, TypeError):  # (one not C-contiguous: the join takes only those)
                return ("l", list(vals))
            stack = np.frombuffer(raw, dtype=dtype).reshape(len(uniq), *shape)
            if len(uniq) == len(vals):
                return ("a", stack, None)
            row = {k: n for n, k in enumerate(uniq)}
            return ("a", stack, np.array(list(map(row.__getitem__, ids)), dtype=np.int64))
    # numbers (times, kinds, weights) as one array each: a pickled float is an
    # object of its own, a float64 the same 8 bytes; tolist() gives back the
    # very Python floats and ints (NaN and -0.0 included)
    if types == {float}:
        return ("f", np.array(vals, dtype=np.float64))
    if types == {int} and _I64[0] <= min(vals) and max(vals) <= _I64[1]:
        return ("i", np.array(vals, dtype=np.int64))
    return ("l", list(vals))


def _unpack_column(col: tuple[Any, ...]) -> list[Any]:
    if col[0] == "a":
        rows = list(col[1])  # (views of the stack: no copies)
        return rows if col[2] is None else list(map(rows.__getitem__, col[2].tolist()))
    if col[0] in ("f", "i"):
        return col[1].tolist()
    return list(col[1])


def _unpack_hist(packed: Any) -> list[tuple[MeasRecord, Snapshot]]:
    if not (
        isinstance(packed, tuple) and len(packed) == 3 and packed[0] in ("tocsin-hist-1", "tocsin-hist-2")
    ):
        return packed
    recs = zip(*map(_unpack_column, packed[1]), strict=True)
    snaps = zip(*map(_unpack_column, packed[2]), strict=True)
    return list(zip(recs, snaps, strict=True))
