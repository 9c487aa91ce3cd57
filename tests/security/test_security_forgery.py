"""Issue 14 item 10: signature forgery, for *every* registered partner. A change
that accepted any signature from partner US passed all 692 tests of the day:
here each partner of a registry is attacked in turn, on the decoded path and
over HTTP, so accepting a forgery for any one of them fails a test."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import pytest

from tocsin.exchange.ingress import Ingress
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, b64url_encode, generate_key, sign
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.wire import Envelope, encode_json

T0 = 1_789_430_400.0
CODES = ("JP", "KR", "US", "AU")
KEYS = {c: generate_key() for c in CODES}
REG = PartnerRegistry({c: PartnerPolicy(c, KEYS[c].public_key(), (f"{c}-*",), ("plot",)) for c in CODES})


def plot(code: str, seq: int) -> Envelope:
    return sample_plot(partner=code, source=f"{code}-R1", seq=seq, sent=T0)


def forgeries(code: str) -> dict[str, Envelope]:
    """Every way to claim ``code``'s name without ``code``'s key."""
    good = sign(plot(code, 1), KEYS[code])
    other = next(c for c in CODES if c != code)
    return {
        "another partner's key": sign(plot(code, 2), KEYS[other]),
        "a stranger's key": sign(plot(code, 3), generate_key()),
        "changed after signing": msgspec.structs.replace(good, seq=4),
        "body changed after signing": msgspec.structs.replace(
            good, body=msgspec.structs.replace(good.body, range_m=good.body.range_m + 1.0)
        ),
        "signature of another message": msgspec.structs.replace(sign(plot(code, 5), KEYS[code]), seq=6),
        "64 zero bytes": msgspec.structs.replace(plot(code, 7), v=2, sig=b64url_encode(bytes(64))),
        "truncated signature": msgspec.structs.replace(good, seq=8, sig=(good.sig or "")[:40]),
        "not base64": msgspec.structs.replace(good, seq=9, sig="!" * 86),
    }


@pytest.mark.parametrize("code", REG.partners)
def test_every_forgery_of_every_partner_is_refused(code: str) -> None:
    ing = Ingress(REG, max_skew_s=None)
    for name, env in forgeries(code).items():
        v = ing.check_bytes(encode_json(env))
        assert (v.ok, v.reason) == (False, "bad_signature"), f"{code}: {name}"
    # and the genuine article from the same partner is accepted (the test can fail)
    assert ing.check_bytes(encode_json(sign(plot(code, 10), KEYS[code]))).ok
    assert ing.rejected == {"bad_signature": len(forgeries(code))}


@pytest.mark.parametrize("code", REG.partners)
def test_every_partner_over_http(code: str) -> None:
    ex, _ = build_exchange(toy_stages(), registry=REG, config=ServerConfig(tick_s=0, clock="data"))

    async def main() -> list[int]:
        app = create_app(ex)
        await ex.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                codes = []
                for env in [*forgeries(code).values(), sign(plot(code, 10), KEYS[code])]:
                    r = await c.post(
                        "/v1/messages", content=encode_json(env), headers={"content-type": "application/json"}
                    )
                    codes.append(r.status_code)
                return codes
        finally:
            await ex.stop()

    codes = asyncio.run(main())
    assert codes[:-1] == [403] * len(forgeries(code))
    assert codes[-1] == 202
