"""Distributed mode on NATS JetStream.

Subjects::

    tocsin.v1.<kind>.<partner>.<source>     inputs (sensor, plot, track, heartbeat)
    tocsin.v1.out.<kind>.<partner>          what a partner's fusion node produced
                                            (fused tracks, alerts), signed by it

Streams (explicit retention, file storage, ``num_replicas`` 1 or 3):

* ``TOCSIN_IN_<PARTNER>`` (:func:`in_stream`) — one stream per partner, holding
  that partner's input subjects ``tocsin.v1.<kind>.<PARTNER>.>``; limits
  retention, 7 days, a **per-partner quota** (``in_max_bytes``, default 10 GiB)
  and ``DiscardPolicy.NEW``: when a partner's stream is full, *its* next
  publish is refused (the publisher gets an error: flow control) and nothing
  stored is ever deleted to make room — a partner flooding the exchange fills
  its own quota and cannot push another partner's stored, PubAck'ed messages
  out (issue 17 item 3). The quota must hold ``max_age`` of the partner's
  sustained traffic (10 GiB / 7 days = 17 kB/s), else that partner alone is
  flow-controlled until old messages age out: raise it (``tocsin deploy
  streams --stream-mb``) for a busy partner. 2-minute duplicate window keyed
  by ``Nats-Msg-Id = partner.source.seq.<digest>`` (:func:`msg_id`) so a
  publisher's retry is stored once.
* ``TOCSIN_OUT`` — ``tocsin.v1.out.>``; limits retention, 1 day, oldest
  discarded first (outputs are re-derivable from each node's journal).

Each partner node runs its own fusion on every partner's inputs through a
durable pull consumer ``fusion-<NODE>`` *on each partner's stream*, with
explicit acks, and reads them fairly (:meth:`FusionNode.run`: one pull
outstanding per partner stream, each answered pull contributes at most
``batch`` messages to a round), so a flooding partner's backlog never holds
another partner's messages behind it; a partner stream whose recent messages
mostly failed decoding or authentication is *suspect*
(:class:`tocsin.exchange.admission.Admission`, as an HTTP lane) and is pulled
at most at the unauthenticated rate: its junk waits in its own stream. A batch is acknowledged
only after :meth:`tocsin.runtime.Pipeline.submit_batch` returned, i.e. after the
inputs (and rejections, and outputs) were committed to the journal: a crash
before the ack means redelivery, and the restored replay window turns a
redelivered message that was already journalled into a counted ``duplicate``.

Poison messages. No input crashes the decoder (it has size and depth limits:
:mod:`tocsin.wire.codec`), but a node must not enter a crash loop on whatever
else might: a batch whose processing raises is processed again one message
at a time, and a redelivered batch is always processed one at a time (so a
message that killed the process is alone when it comes back). A message whose
processing raises, or that JetStream delivered :data:`POISON_DELIVERIES` times
without an ack, is journalled as a ``poison`` reject (bounded like every
reject) and terminated (``AckTerm``): never redelivered. If even that reject
cannot be journalled the journal is at fault, not the message: the node stops
with the message unacknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tocsin.errors import ConfigError, InputError
from tocsin.exchange.admission import Admission
from tocsin.exchange.ingress import Verdict
from tocsin.exchange.links import LinkMonitor
from tocsin.exchange.scangrace import ScanGrace, ScanGraceConfig
from tocsin.exchange.signing import sign
from tocsin.runtime import Pipeline, Raw
from tocsin.wire import Envelope, HeartbeatBody, encode_json, encode_msgpack, make

#: the input streams are ``TOCSIN_IN_<PARTNER>`` (:func:`in_stream`)
IN_PREFIX = "TOCSIN_IN_"
OUT_STREAM = "TOCSIN_OUT"
INPUT_KINDS = ("sensor", "plot", "track", "heartbeat")
#: the partners whose input streams are made when none are named (the shipped
#: shared-cluster configuration's partners)
DEFAULT_PARTNERS = ("JP", "KR", "US")
_TOKEN = re.compile(r"[^A-Za-z0-9_\-]")


def _token(text: str) -> str:
    """A subject token: anything but letters, digits, ``_`` and ``-`` becomes ``_``."""
    return _TOKEN.sub("_", text) or "_"


def subject_for(env: Envelope) -> str:
    """``tocsin.v1.<kind>.<partner>.<source>`` for an input message."""
    return f"tocsin.v1.{_token(env.kind)}.{env.partner}.{_token(env.source)}"


def out_subject(env: Envelope, partner: str) -> str:
    return f"tocsin.v1.out.{_token(env.kind)}.{partner}"


def msg_id(env: Envelope, data: bytes | None = None) -> str:
    """The de-duplication id ``partner.source.seq.<digest>``: the first 128 bits
    of the SHA-256 of the bytes sent. The stream drops a second message with
    the same id for two minutes, across all subjects: with ``partner.source.seq``
    alone another partner could publish, on its own subject, the id of this
    partner's next message and have the server drop it as a duplicate. The
    digest of the signed bytes cannot be known before they are sent; a retry of
    the same bytes has the same id."""
    digest = hashlib.sha256(data if data is not None else encode_json(env)).hexdigest()[:32]
    return f"{env.partner}.{env.source}.{env.seq}.{digest}"


def in_stream(partner: str) -> str:
    """The input stream of one partner: ``TOCSIN_IN_<PARTNER>``."""
    return IN_PREFIX + partner


def in_subjects(partner: str) -> list[str]:
    """The subjects of one partner's inputs (its input stream's subjects)."""
    return [f"tocsin.v1.{k}.{partner}.>" for k in INPUT_KINDS]


def stream_configs(
    replicas: int = 1,
    *,
    partners: Iterable[str] = DEFAULT_PARTNERS,
    in_max_bytes: int = 10 * 2**30,
    out_max_bytes: int = 2 * 2**30,
) -> list[Any]:
    """The stream configurations (see module doc): one input stream per partner
    (``in_max_bytes`` is each partner's quota), then ``TOCSIN_OUT``."""
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

    ins = [
        StreamConfig(
            name=in_stream(p),
            subjects=in_subjects(p),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=replicas,
            max_age=7 * 86400.0,
            max_bytes=in_max_bytes,
            max_msg_size=1 * 2**20,
            # full: refuse the publisher (flow control), never delete what is stored
            discard=DiscardPolicy.NEW,
            duplicate_window=120.0,
        )
        for p in dict.fromkeys(partners)
    ]
    return [
        *ins,
        StreamConfig(
            name=OUT_STREAM,
            subjects=["tocsin.v1.out.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=replicas,
            max_age=86400.0,
            max_bytes=out_max_bytes,
            discard=DiscardPolicy.OLD,
            duplicate_window=120.0,
        ),
    ]


async def ensure_streams(
    js: Any,
    replicas: int = 1,
    *,
    partners: Iterable[str] = DEFAULT_PARTNERS,
    update: bool = False,
    **limits: int,
) -> None:
    """Create the streams if they do not exist (or, with ``update``, bring them to
    this configuration): each of ``partners``' input streams and the output
    stream. Looking a stream up needs only ``$JS.API.STREAM.INFO``, so partner
    users that may not create streams can call this safely once the operator
    has created them."""
    from nats.js.errors import NotFoundError

    for cfg in stream_configs(replicas, partners=partners, **limits):
        try:
            await js.stream_info(cfg.name)
        except NotFoundError:
            await js.add_stream(config=cfg)
            continue
        if update:
            await js.update_stream(config=cfg)


async def input_partners(js: Any) -> list[str]:
    """The partners that have an input stream on this JetStream (sorted), from
    ``$JS.API.STREAM.NAMES`` (partner users may list stream names)."""
    import json

    names: list[str] = []
    offset = 0
    while True:
        resp = await js._api_request(  # nats-py has no public "stream names" call
            f"{js._prefix}.STREAM.NAMES", json.dumps({"offset": offset}).encode(), timeout=js._timeout
        )
        page = list(resp.get("streams") or [])
        names.extend(page)
        offset += len(page)
        if not page or offset >= int(resp.get("total", 0)):
            break
    return sorted(n.removeprefix(IN_PREFIX) for n in names if n.startswith(IN_PREFIX))


def fusion_consumer_config(partner: str) -> Any:
    """The durable pull consumer ``fusion-<PARTNER>`` (one on each input stream)."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    return ConsumerConfig(
        durable_name=f"fusion-{partner}",
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=30.0,
        max_ack_pending=10_000,
    )


async def ensure_consumers(
    js: Any, nodes: Iterable[str], *, partners: Iterable[str] | None = None
) -> list[str]:
    """Create each node's fusion consumer ``fusion-<NODE>`` on each partner's
    input stream (``partners``: default every input stream there is) if it does
    not exist (the exchange administrator's step: partner users may not create
    consumers, see :mod:`tocsin.transport.natsconf`). Returns the names of the
    consumers created (each once)."""
    from nats.js.errors import NotFoundError

    nodes = list(nodes)
    made: list[str] = []
    for p in await input_partners(js) if partners is None else list(partners):
        for n in nodes:
            cfg = fusion_consumer_config(n)
            try:
                await js.consumer_info(in_stream(p), cfg.durable_name)
            except NotFoundError:
                await js.add_consumer(in_stream(p), config=cfg)
                if cfg.durable_name not in made:
                    made.append(cfg.durable_name)
    return made


# ---------------------------------------------------------------- connecting


@dataclass(frozen=True)
class NatsAuth:
    """How a node (or the administrator) connects: server URLs and credentials.

    Secrets are never command-line arguments: a password comes from the
    environment or a file, an NKey seed or a creds file is read by the client
    from its file, TLS keys from theirs. ``inbox_prefix`` is where replies come
    back (``_INBOX_<PARTNER>``): the shipped permissions let a partner receive
    only on its own prefix."""

    urls: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    user: str | None = None
    password: str | None = None
    nkey_seed: Path | None = None
    creds: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    inbox_prefix: str | None = None

    def check(self) -> None:
        """Raise InputError naming the option of a missing file or a bad mix."""
        for name, p in (
            ("--nkey", self.nkey_seed),
            ("--creds", self.creds),
            ("--tls-ca", self.tls_ca),
            ("--tls-cert", self.tls_cert),
            ("--tls-key", self.tls_key),
        ):
            if p is not None and not p.is_file():
                raise InputError("no such file", file=str(p), field=name)
        if sum(x is not None for x in (self.user, self.nkey_seed, self.creds)) > 1:
            raise InputError("give one of --user, --nkey, --creds", field="--user")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InputError("a client certificate needs its key and the reverse", field="--tls-cert")
        if self.user is not None and self.password is None:
            raise InputError(
                "a NATS user needs its password in TOCSIN_NATS_PASSWORD or --password-file",
                field="--user",
            )
        for u in self.urls:
            if not re.match(r"^(nats|tls)://[^\s,]+$", u):
                raise InputError(f"{u!r} is not a nats:// or tls:// URL", field="--nats")

    def ssl_context(self) -> ssl.SSLContext | None:
        if (
            self.tls_ca is None
            and self.tls_cert is None
            and not any(u.startswith("tls://") for u in self.urls)
        ):
            return None
        try:
            ctx = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH, cafile=str(self.tls_ca) if self.tls_ca else None
            )
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if self.tls_cert is not None and self.tls_key is not None:
                ctx.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(f"TLS files: {exc}") from None
        return ctx

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`nats.connect`."""
        opts: dict[str, Any] = {"servers": list(self.urls)}
        if self.user is not None:
            opts.update(user=self.user, password=self.password or "")
        if self.nkey_seed is not None:
            opts["nkeys_seed"] = str(self.nkey_seed)
        if self.creds is not None:
            opts["user_credentials"] = str(self.creds)
        ctx = self.ssl_context()
        if ctx is not None:
            opts["tls"] = ctx
        if self.inbox_prefix:
            opts["inbox_prefix"] = self.inbox_prefix
        return opts


def read_secret_file(path: Path, option: str) -> str:
    """The first line of a secret file (InputError naming ``option`` if unreadable or empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a text file"
        raise InputError(f"cannot read: {msg}", file=str(path), field=option) from None
    line = text.splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise InputError("empty", file=str(path), field=option)
    return line


def split_urls(text: str | Sequence[str]) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(u.strip() for u in items if u.strip())


MSGPACK = "application/msgpack"


async def publish(
    js: Any, env: Envelope, *, subject: str | None = None, timeout: float = 5.0, fmt: str = "json"
) -> Any:
    """Publish one message with its de-duplication id; returns the PubAck.

    ``fmt="msgpack"`` sends MessagePack with ``Content-Type: application/msgpack``
    (JSON is the default and needs no header)."""
    headers = {}
    if fmt == "msgpack":
        headers["Content-Type"] = MSGPACK
        data = encode_msgpack(env)
    else:
        data = encode_json(env)
    headers["Nats-Msg-Id"] = msg_id(env, data)
    return await js.publish(subject or subject_for(env), data, timeout=timeout, headers=headers)


#: deliveries after which a message is terminated as poison (module doc)
POISON_DELIVERIES = 5


def _deliveries(m: Any) -> int:
    """How many times JetStream delivered ``m`` (1 when it cannot say)."""
    try:
        return int(m.metadata.num_delivered)
    except Exception:  # not a JetStream message (tests), or no metadata
        return 1


#: a pull issued less than this long ago is "fresh" (FusionNode.gather_s)
_FRESH_S = 0.05
#: messages a suspect partner stream contributes to a round (FusionNode.admission)
SUSPECT_BATCH = 32
#: rejects that an honest partner's stream may produce (redelivery, reordering):
#: not counted against it
_BENIGN = frozenset({"duplicate", "stale"})


def _lane(partner: str) -> str:
    return f"nats:{partner}"


def _stream_partner(m: Any) -> str:
    """The partner whose input stream ``m`` came from (its subject's 4th token)."""
    parts = str(getattr(m, "subject", "") or "").split(".")
    return parts[3] if len(parts) > 3 else "-"


def _stored_at(m: Any) -> Any:
    """When JetStream stored ``m`` (None when it cannot say)."""
    try:
        return m.metadata.timestamp
    except Exception:  # not a JetStream message (tests), or no metadata
        return None


def _raws(msgs: list[Any]) -> list[Raw]:
    return [
        Raw(m.data, "msgpack" if (m.headers or {}).get("Content-Type") == MSGPACK else "json") for m in msgs
    ]


class CollectSink:
    """Keeps outputs until the node publishes them (after the journal commit)."""

    def __init__(self) -> None:
        self.items: list[Envelope] = []

    def emit(self, env: Envelope) -> None:
        self.items.append(env)

    def take(self) -> list[Envelope]:
        out, self.items = self.items, []
        return out


@dataclass
class NodeStats:
    fetched: int = 0
    accepted: int = 0
    rejected: int = 0
    published: int = 0
    heartbeats: int = 0
    transient_errors: int = 0
    #: messages terminated (AckTerm) as poison, and batches that had to be split
    poison: int = 0
    batch_failures: int = 0
    #: ticks the node ran (periodic and scan grace)
    ticks: int = 0
    verdicts: list[Verdict] = field(default_factory=list)


class FusionNode:
    """One partner's fusion node on JetStream (see module doc).

    ``clock`` gives the node's time for the ingress clock check and ticks; it is
    read here, in the runtime, never inside a stage.
    """

    def __init__(
        self,
        js: Any,
        pipeline: Pipeline,
        *,
        partner: str,
        key: Ed25519PrivateKey | None = None,
        node: str | None = None,
        durable: str | None = None,
        batch: int = 256,
        clock: Callable[[], float] = time.time,
        tick_s: float = 0.0,
        heartbeat_s: float = 0.0,
        keep_verdicts: bool = False,
        links: LinkMonitor | None = None,
        on_link: Callable[[str, bool], None] | None = None,
        scan_grace_s: float = 0.02,
        scan_grace_min_s: float = 0.002,
        pull_s: float = 1.0,
        partners: Sequence[str] | None = None,
        gather_s: float = 0.005,
        admission: Admission | None = None,
    ) -> None:
        self.js = js
        self.pipeline = pipeline
        self.partner = partner
        self.key = key
        self.node = node or f"{partner}-node-1"
        self.durable = durable or f"fusion-{partner}"
        #: the partners whose input streams this node reads (None: every
        #: ``TOCSIN_IN_*`` stream there is at :meth:`setup`)
        self.partners = list(dict.fromkeys(partners)) if partners is not None else None
        self.batch = batch
        self.clock = clock
        self.tick_s = tick_s
        #: scan grace (issue 17): with ticks on, tick the stages (a journalled
        #: tick) when no message came for this long after the last batch, so a
        #: radar scan still buffered in the tracker is processed now, not when
        #: the next scan or periodic tick comes. A local timer in :meth:`run`,
        #: independent of the JetStream pull (which stays long: ``pull_s``);
        #: 0 turns it off. The most it waits: a sensor whose scans have shown
        #: their plot spacing gets twice its longest gap within a scan, at least
        #: ``scan_grace_min_s`` (:mod:`tocsin.exchange.scangrace`)
        self.scan_grace_s = scan_grace_s
        self.scan_grace = ScanGrace(
            ScanGraceConfig(max_s=scan_grace_s, min_s=min(scan_grace_min_s, scan_grace_s))
        )
        #: how long one JetStream pull request waits for a first message. A
        #: pull returns as soon as one arrives, so this is no latency; it only
        #: bounds idle round trips. Short pulls (tens of ms) expire in transit
        #: on a loaded server and starve the consumer: timers never shorten it
        self.pull_s = pull_s
        self.heartbeat_s = heartbeat_s
        self.keep_verdicts = keep_verdicts
        #: a message delivered this many times without an ack is poison (terminated)
        self.poison_deliveries = POISON_DELIVERIES
        self.links = links or LinkMonitor(heartbeat_s if heartbeat_s > 0 else 5.0)
        self.on_link = on_link
        self.stats = NodeStats()
        self.sink = CollectSink()
        pipeline.sinks.append(self.sink)
        #: one pull subscription per partner input stream, and the pull
        #: outstanding on each (kept across :meth:`step` / :meth:`run` calls: a
        #: pull answered but not yet handled holds delivered messages)
        self._subs: dict[str, Any] = {}
        self._pulls: dict[str, asyncio.Task[list[Any]]] = {}
        self._pull_at: dict[str, float] = {}
        #: where the next round starts (rotates: no partner always goes first)
        self._rr = 0
        #: once a pull is answered, how long the round waits for the answers of
        #: pulls issued just before (``_FRESH_S``): a node catching up gets
        #: every partner's next batch in one round, merged in stream time order,
        #: not one partner's minutes of backlog before another's. A pull that
        #: has been waiting longer is idle and is not waited for (no latency in
        #: steady operation); 0 turns it off
        self.gather_s = gather_s
        #: a partner stream whose recent messages mostly failed decoding or
        #: authentication is *suspect* (as an HTTP lane: tocsin.exchange.admission)
        #: and is read at most at the unauthenticated rate (1,000 msgs/s): its
        #: junk waits in its own stream (bounded by its quota), not in the node
        self.admission = admission or Admission()
        #: partner -> monotonic time before which its stream is not pulled
        self._deferred: dict[str, float] = {}
        #: messages seen that were not this node's own heartbeats
        self.activity = 0
        self._hb_seq = 0

    async def setup(self, attempts: int = 40) -> None:
        """Bind to the durable consumer on each partner's input stream, creating
        it when this user may (on a server with the shipped permissions the
        administrator creates it). A look-up that gets no answer is retried
        (``attempts`` x 0.25 s: a cluster moving the consumer's leader after a
        server went down)."""
        partners = self.partners
        if partners is None:
            partners = await self._retry(attempts, "the input streams", lambda: input_partners(self.js))
            if not partners:
                raise ConfigError(
                    f"no input streams ({IN_PREFIX}XX) on this JetStream: the exchange administrator "
                    "creates them (tocsin deploy streams)"
                )
        for p in partners:
            await self._bind(p, attempts)
        # outputs of a recovery (appended to the journal, not yet published)
        await self._publish_outputs()

    async def _retry(self, attempts: int, what: str, call: Callable[[], Any]) -> Any:
        from nats.errors import NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import ServiceUnavailableError

        for i in range(attempts):
            try:
                return await call()
            except (NatsTimeout, TimeoutError, NoRespondersError, ServiceUnavailableError):
                if i == attempts - 1:
                    raise ConfigError(
                        f"{what}: no answer from JetStream after {attempts} tries (are the streams "
                        "there, and may this user look them up?)"
                    ) from None
                self.stats.transient_errors += 1
                await asyncio.sleep(0.25)
        raise AssertionError("unreachable")

    async def _bind(self, partner: str, attempts: int) -> None:
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import NotFoundError

        stream = in_stream(partner)
        cfg = fusion_consumer_config(self.partner)
        cfg.durable_name = self.durable

        async def look_up() -> None:
            try:
                await self.js.consumer_info(stream, self.durable)
            except NotFoundError:
                try:
                    await self.js.add_consumer(stream, config=cfg)
                except NotFoundError:
                    raise ConfigError(
                        f"stream {stream} does not exist: the exchange administrator creates it "
                        f"(tocsin deploy streams --partners ...,{partner})"
                    ) from None
                except (NatsTimeout, TimeoutError):  # a refused publish gets no answer
                    raise ConfigError(
                        f"consumer {self.durable} on stream {stream} does not exist and this user may not "
                        "create it: the exchange administrator creates it (tocsin deploy streams)"
                    ) from None

        await self._retry(attempts, f"consumer {self.durable} on stream {stream}", look_up)
        self._subs[partner] = await self.js.pull_subscribe_bind(self.durable, stream)

    async def step(self, timeout: float = 1.0) -> int:
        """Fetch one round (at most ``batch`` messages from each partner stream
        that has some, waiting up to ``timeout`` for the first), journal and
        process it, ack it, publish outputs; the number of messages."""
        deadline = time.monotonic() + timeout
        while True:
            self._start_pulls(timeout)
            now = time.monotonic()
            left = deadline - now
            later = self._next_deferred(now)  # a suspect stream waiting for its bucket
            wait = left if later is None else min(left, later)
            if self._pulls:
                done, _ = await asyncio.wait(
                    set(self._pulls.values()), timeout=max(wait, 0.0), return_when=asyncio.FIRST_COMPLETED
                )
                if done:
                    break
            elif later is None or later > left:
                return 0
            else:
                await asyncio.sleep(wait)
            if time.monotonic() >= deadline:
                break
        await self._gather(max(self.gather_s, timeout))
        msgs = self._take_round()
        if not msgs:
            # nothing came: let every pull end (each within its ``timeout``), so
            # a step that returns 0 leaves no pull behind that could take a
            # message nobody handles (it would wait for ack_wait)
            if self._pulls:
                await asyncio.wait(set(self._pulls.values()))
            msgs = self._take_round()
        return await self._handle(msgs)

    def _start_pulls(self, timeout: float) -> None:
        """One outstanding pull on every partner stream that has none (a suspect
        stream only when its bucket holds a batch)."""
        now = time.monotonic()
        for p, sub in self._subs.items():
            if p in self._pulls or now < self._deferred.get(p, 0.0):
                continue
            # a suspect stream: small batches (the junk of one round is short work)
            n = min(self.batch, SUSPECT_BATCH) if self.admission.suspect(_lane(p)) else self.batch
            wait = self.admission.lane_wait(_lane(p), n)
            if wait > 0:
                self._deferred[p] = now + wait
                continue
            self._pulls[p] = asyncio.ensure_future(self._fetch(sub, timeout, n))
            self._pull_at[p] = now

    def _next_deferred(self, now: float) -> float | None:
        """Seconds until a deferred (suspect) stream may be pulled again."""
        later = [t for p, t in self._deferred.items() if p not in self._pulls]
        return max(0.0, min(later) - now) if later else None

    async def _gather(self, wait_s: float) -> None:
        """When some pull was answered: wait up to ``wait_s`` for the pulls
        issued within the last ``_FRESH_S`` (their answers are on the way).
        :meth:`run` waits ``gather_s``; :meth:`step` (one round on demand) up to
        its ``timeout``, so a step takes every partner's waiting batch."""
        if wait_s <= 0 or not any(t.done() for t in self._pulls.values()):
            return
        now = time.monotonic()
        fresh = {t for p, t in self._pulls.items() if not t.done() and now - self._pull_at[p] < _FRESH_S}
        if fresh:
            await asyncio.wait(fresh, timeout=wait_s)

    def _take_round(self) -> list[Any]:
        """The messages of every answered pull, one partner after another from a
        rotating start (each pull holds at most ``batch``: a flooder's backlog
        adds one batch to a round, never more)."""
        order = list(self._pulls)
        if not order:
            return []
        k = self._rr % len(order)
        self._rr += 1
        msgs: list[Any] = []
        parts = 0
        for p in order[k:] + order[:k]:
            t = self._pulls[p]
            if t.done():
                del self._pulls[p]
                got = t.result()
                parts += bool(got)
                msgs.extend(got)
        if parts > 1:
            # several partners' batches: in the order the server stored them
            # (each stream's own order is kept; a stable sort)
            stamps = [_stored_at(m) for m in msgs]
            if None not in stamps:
                order_ = sorted(range(len(msgs)), key=lambda i: stamps[i])
                msgs = [msgs[i] for i in order_]
        return msgs

    async def _stop_pulls(self) -> None:
        """Cancel outstanding pulls (whatever the server still delivers to them
        waits unacknowledged: redelivered after ack_wait, and a duplicate of
        something journalled is counted as one, never re-run)."""
        pulls, self._pulls = list(self._pulls.values()), {}
        self._pull_at.clear()
        for t in pulls:
            t.cancel()
        for t in pulls:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _fetch(self, sub: Any, timeout: float, n: int) -> list[Any]:
        """One pull: the messages available, or the first that arrives within
        ``timeout`` with whatever came with it; [] when none did."""
        from nats.errors import ConnectionClosedError, NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

        try:
            msgs = await sub.fetch(n, timeout=timeout)
        except (NatsTimeout, TimeoutError):
            return []
        except ConnectionClosedError:  # the node is closing: a pull left outstanding ends
            return []
        except (NoRespondersError, NoStreamResponseError, ServiceUnavailableError):
            # the consumer's leader is moving (a cluster node went away): try again
            self.stats.transient_errors += 1
            await asyncio.sleep(min(timeout, 0.2))
            return []
        return list(msgs or [])

    async def _handle(self, msgs: list[Any]) -> int:
        """Journal and process fetched messages, ack them, publish outputs."""
        if not msgs:
            return 0
        self.stats.fetched += len(msgs)
        arrived = time.monotonic()  # (taken from the pull: the scan grace's arrival time)
        verdicts = await self._process(msgs)
        # each partner stream's record: mostly junk makes it suspect (read slowly)
        tally: dict[str, list[int]] = {}
        for m, v in zip(msgs, verdicts, strict=True):
            t = tally.setdefault(_stream_partner(m), [0, 0])
            t[0 if v.ok or v.reason in _BENIGN else 1] += 1
        for p, (good, bad) in tally.items():
            self.admission.lane_result(_lane(p), good, bad)
        now = self.clock()
        if self.scan_grace_s > 0:
            self.scan_grace.seen_all(verdicts, arrived)
        for v in verdicts:
            if v.env is None or v.env.source != self.node:
                self.activity += 1
            if v.ok and v.env is not None:
                back = self.links.seen(v.env.partner, now, heartbeat=v.env.kind == "heartbeat")
                if back and self.on_link is not None:
                    self.on_link(v.env.partner, False)
            if v.ok:
                self.stats.accepted += 1
            else:
                self.stats.rejected += 1
        if self.keep_verdicts:
            self.stats.verdicts.extend(verdicts)
        await self._publish_outputs()
        return len(msgs)

    async def _process(self, msgs: list[Any]) -> list[Verdict]:
        """Journal and process fetched messages, then acknowledge them; a poison
        message is terminated instead (module doc, "Poison messages")."""
        # (verdicts in the order of ``msgs``)
        out: list[Verdict | None] = [None] * len(msgs)
        keep: list[int] = []
        for i, m in enumerate(msgs):
            if _deliveries(m) >= self.poison_deliveries:
                out[i] = await self._poison(m, f"delivered {_deliveries(m)} times without an ack")
            else:
                keep.append(i)
        if keep and all(_deliveries(msgs[i]) <= 1 for i in keep):
            try:
                vs = await asyncio.to_thread(
                    self.pipeline.submit_batch, _raws([msgs[i] for i in keep]), now=self.clock()
                )
            except Exception:  # something in the batch breaks processing: find it, one by one
                self.stats.batch_failures += 1
            else:
                # journal committed: now (and only now) acknowledge
                for i, v in zip(keep, vs, strict=True):
                    await msgs[i].ack()
                    out[i] = v
                keep = []
        # one at a time (a redelivered batch, or one that failed): a message that
        # breaks processing, or crashes the node, is isolated from the others
        for i in keep:
            m = msgs[i]
            try:
                (v,) = await asyncio.to_thread(self.pipeline.submit_batch, _raws([m]), now=self.clock())
            except Exception as exc:
                out[i] = await self._poison(m, f"processing failed: {type(exc).__name__}")
                continue
            await m.ack()
            out[i] = v
        return [v for v in out if v is not None]

    async def _poison(self, m: Any, why: str) -> Verdict:
        """Journal ``m`` as a bounded ``poison`` reject, then terminate it (AckTerm:
        never redelivered). If even the reject cannot be journalled, the journal
        is what is broken, not the message: raise, and leave it unacknowledged."""
        v = await asyncio.to_thread(self.pipeline.ingress.reject_raw, m.data, "poison", why)
        await m.term()
        self.stats.poison += 1
        return v

    async def _publish_outputs(self) -> None:
        """Publish what the last batch produced, all at once (the PubAcks are
        awaited together: one round trip per batch, not per message)."""
        outs = self.sink.take()
        if not outs:
            return
        pubs = []
        for env in outs:
            out = sign(env, self.key) if self.key is not None else env
            data = encode_json(out)
            pubs.append(
                self._publish_retry(
                    out_subject(env, self.partner),
                    data,
                    {"Nats-Msg-Id": f"{self.partner}.out.{msg_id(env, data)}"},
                )
            )
        await asyncio.gather(*pubs)
        self.stats.published += len(outs)

    async def _publish_retry(
        self, subject: str, data: bytes, headers: dict[str, str], attempts: int = 30
    ) -> None:
        """Publish, retrying while a stream leader moves (safe: the stream
        de-duplicates on ``Nats-Msg-Id``)."""
        from nats.errors import NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

        delay = 0.05
        for i in range(attempts):
            try:
                await self.js.publish(subject, data, headers=headers)
                return
            except (NoRespondersError, NoStreamResponseError, ServiceUnavailableError, NatsTimeout):
                if i == attempts - 1:
                    raise
                self.stats.transient_errors += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def heartbeat(self, sources: dict[str, Any] | None = None) -> None:
        """Publish this node's heartbeat (signed) on its input subject."""
        self._hb_seq += 1
        t = self.clock()
        env = make(
            "heartbeat",
            HeartbeatBody(node=self.node, t=t, sources=sources or {}),
            partner=self.partner,
            source=self.node,
            seq=int(t * 1000),  # monotonic across restarts
            sent=t,
        )
        if self.key is not None:
            env = sign(env, self.key)
        await publish(self.js, env)
        self.stats.heartbeats += 1

    async def run(self, *, stop: asyncio.Event, idle_exit_s: float | None = None) -> None:
        """Process until ``stop`` is set (or ``idle_exit_s`` passes with no message).

        One JetStream pull is outstanding per partner stream (``pull_s``
        long); each round handles every answered pull together (at most
        ``batch`` messages per partner, from a rotating start: fair reading,
        a flooding partner adds one batch per round and nothing more); the
        timers (scan grace, periodic ticks, checkpoints, link checks,
        heartbeats) run while it waits, and the stages are only ever touched by
        this loop, one call at a time, in the order the journal records.

        With the stages in a process of their own (:meth:`Pipeline.start_stage_process
        <tocsin.runtime.Pipeline.start_stage_process>`, ``tocsin node
        --stage-process on``) a batch is acknowledged once its inputs are
        journalled, and the loop also wakes when the stage process has outputs:
        it journals and publishes them at once (a track update does not wait
        for the next batch, nor for the warning stage); at stop it waits for
        the last ones and publishes them."""
        last_msg = last_tick = last_hb = time.monotonic()
        loop = asyncio.get_running_loop()
        outputs_ready = asyncio.Event()
        separate = self.pipeline.stage_process is not None
        if separate:

            def wake() -> None:  # (from the stage process's reply thread)
                # (its last replies may come after this loop has ended and closed)
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(outputs_ready.set)

            self.pipeline.on_outputs = wake
        ready_wait: asyncio.Future[Any] | None = None
        grace = self.scan_grace_s if self.tick_s > 0 else 0.0
        #: when the last batch not yet followed by a tick was processed
        unticked_at: float | None = None
        poll = min(0.5, self.links.check_every_s)
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                self._start_pulls(self.pull_s)
                now = time.monotonic()
                wait = poll
                if unticked_at is not None and grace > 0:
                    wait = min(wait, unticked_at + self.scan_grace.grace_s() - now)
                if self.tick_s > 0:
                    wait = min(wait, last_tick + self.tick_s - now)
                if self.heartbeat_s > 0:
                    wait = min(wait, last_hb + self.heartbeat_s - now)
                deferred = self._next_deferred(now)
                if deferred is not None:
                    wait = min(wait, deferred)
                if separate and (ready_wait is None or ready_wait.done()):
                    ready_wait = asyncio.ensure_future(outputs_ready.wait())
                await asyncio.wait(
                    {*self._pulls.values(), stopped, *([ready_wait] if ready_wait is not None else [])},
                    timeout=max(wait, 0.0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if outputs_ready.is_set():
                    outputs_ready.clear()
                    await self._collect()
                # (also when stopping: messages delivered are journalled and acked first)
                if not stop.is_set():
                    await self._gather(self.gather_s)
                msgs = self._take_round()
                if msgs:
                    before = self.activity
                    taken = time.monotonic()
                    await self._handle(msgs)
                    if self.activity > before:
                        # (the grace runs from when the messages were taken, not
                        # from the end of their commit)
                        last_msg = unticked_at = taken
                if stop.is_set():
                    break
                now = time.monotonic()
                if unticked_at is not None and grace > 0 and now - unticked_at >= self.scan_grace.grace_s():
                    # quiet for the scan grace: a buffered scan is complete
                    unticked_at = None
                    if await self._tick(complete=True):
                        last_tick = now
                if self.tick_s > 0 and now - last_tick >= self.tick_s:
                    last_tick = now
                    unticked_at = None
                    await self._tick()
                if self.pipeline.housekeeping_due(now):
                    # signed checkpoints every few seconds (runtime.Pipeline.housekeeping)
                    await asyncio.to_thread(self.pipeline.housekeeping, now)
                for p in self.links.check(self.clock()):
                    if self.on_link is not None:
                        self.on_link(p, True)
                if self.heartbeat_s > 0 and now - last_hb >= self.heartbeat_s:
                    last_hb = now
                    with contextlib.suppress(Exception):
                        await self.heartbeat()
                if idle_exit_s is not None and now - last_msg > idle_exit_s:
                    break
            if separate:  # the outputs of work still in the stage process
                await asyncio.to_thread(self.pipeline.flush)
                await self._publish_outputs()
        finally:
            if separate:
                self.pipeline.on_outputs = None
            stopped.cancel()
            if ready_wait is not None:
                ready_wait.cancel()
            await self._stop_pulls()

    async def _collect(self) -> None:
        """Journal and publish what the stage process has returned."""
        await asyncio.to_thread(self.pipeline.collect)
        await self._publish_outputs()

    async def _tick(self, complete: bool = False) -> bool:
        """Tick the stages at the node's clock (journalled) if it moved on, and
        publish what that released; True if it ticked."""
        t = self.clock()
        if self.pipeline.last_tick is not None and t <= self.pipeline.last_tick:
            return False
        await asyncio.to_thread(self.pipeline.tick, t, complete=complete)
        self.stats.ticks += 1
        await self._publish_outputs()
        return True


async def publish_all(js: Any, msgs: Iterable[Envelope], *, key: Ed25519PrivateKey | None = None) -> int:
    """Sign (if a key is given) and publish messages in order; returns how many."""
    n = 0
    for m in msgs:
        await publish(js, sign(m, key) if key is not None else m)
        n += 1
    return n


__all__ = [
    "DEFAULT_PARTNERS",
    "INPUT_KINDS",
    "IN_PREFIX",
    "MSGPACK",
    "OUT_STREAM",
    "CollectSink",
    "FusionNode",
    "NatsAuth",
    "NodeStats",
    "ensure_consumers",
    "ensure_streams",
    "fusion_consumer_config",
    "in_stream",
    "in_subjects",
    "input_partners",
    "msg_id",
    "out_subject",
    "publish",
    "publish_all",
    "read_secret_file",
    "split_urls",
    "stream_configs",
    "subject_for",
]
