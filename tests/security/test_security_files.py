"""Issue 14 items 3 and 9: files given to the CLI are input like any other.
Each path named in the issue, and every configuration loader, answers a hostile
or broken file with one line naming it, exit 2, no traceback, promptly: binary
files, directories, missing files, deep nesting, YAML alias bombs, oversized
files, XML entities."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sechelpers import cli, one_line_error
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.limits import MAX_FILE_BYTES, MAX_NESTING, MAX_NODES, yaml_load

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)  # 9**9 = 387,420,489 leaves from a 400-byte file

HOSTILE = {
    "binary": bytes(range(256)) * 20,
    "deep-flow": "[" * 5000 + "]" * 5000,
    "deep-block": "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n",
    "alias-bomb": BOMB,
    "oversized": "# " + "x" * MAX_FILE_BYTES + "\n",
}


def write(tmp_path: Path, name: str, suffix: str) -> Path:
    data = HOSTILE[name]
    p = tmp_path / f"{name}{suffix}"
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    r = CliRunner().invoke(app, ["keys", "gen", "--partner", "JP", "-o", str(d / "jp.key")])
    assert r.exit_code == 0, r.output
    return d / "jp.key"


def timed_one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    t0 = time.monotonic()
    err = one_line_error(capsys, *args)
    assert time.monotonic() - t0 < 30, "a hostile file must be refused promptly"
    return err


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_hostile_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, suffix: str) -> None:
    p = write(tmp_path, name, suffix)
    err = timed_one_line_error(capsys, "keys", "check", str(p))
    assert str(p) in err


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_registry_given_to_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    p = write(tmp_path, name, ".yaml")
    err = timed_one_line_error(
        capsys, "serve", "--port", "0", "--data", str(tmp_path / "d"), "--partners", str(p)
    )
    assert str(p) in err


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_hostile_policy_and_live_authorisation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keys: Path, name: str, suffix: str
) -> None:
    p = write(tmp_path, name, suffix)
    err = timed_one_line_error(
        capsys, "serve", "--port", "0", "--data", str(tmp_path / "d"), "--policy", str(p)
    )
    assert str(p) in err
    err = timed_one_line_error(
        capsys, "serve", "--port", "0", "--data", str(tmp_path / "d"), "--live", str(p), "--partners", str(p)
    )
    assert str(p) in err


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    p = write(tmp_path, name, ".yaml")
    err = timed_one_line_error(capsys, "simulate", str(p), "-o", str(tmp_path / "o.jsonl"))
    assert str(p) in err


@pytest.mark.parametrize("name", ["binary", "deep-flow", "oversized"])
def test_hostile_operator_file_stops_serve_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """It used to start, then answer 500 on every login."""
    p = write(tmp_path, name, ".json")
    err = timed_one_line_error(
        capsys, "serve", "--port", "0", "--data", str(tmp_path / "d"), "--operators", str(p)
    )
    assert str(p) in err
    err = timed_one_line_error(
        capsys,
        "serve",
        "--port",
        "0",
        "--data",
        str(tmp_path / "d"),
        "--operators",
        str(tmp_path / "nope.json"),
    )
    assert "no such operator file" in err


def test_operator_file_with_an_infinite_scrypt_cost(tmp_path: Path) -> None:
    """Found by benchmarks/fuzz.py (10^6 inputs, seed 1): ``"p": 1e9991`` is
    infinity to the JSON parser and int() of it raised OverflowError, not the
    one-line InputError naming the file and the account."""
    import json

    from tocsin.errors import InputError
    from tocsin.web.auth import OperatorStore

    acct = {
        "role": "operator",
        "kdf": "scrypt",
        "n": 1024,
        "r": 1,
        "p": 1,
        "salt": "c3Nzcw==",
        "hash": "aGhoaA==",
    }
    doc = json.dumps({"format": "tocsin-operators-1", "operators": {"alice": acct}})
    p = tmp_path / "ops.json"
    p.write_text(doc.replace('"p": 1', '"p": 1e9991'))
    with pytest.raises(InputError) as exc:
        OperatorStore(p)
    assert exc.value.file == str(p)
    assert exc.value.field == "operators.alice"


def test_keys_sign_missing_file_and_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keys: Path
) -> None:
    for src, want in ((tmp_path / "nope.jsonl", "no such file"), (tmp_path, "is a directory")):
        err = one_line_error(capsys, "keys", "sign", str(src), "--key", str(keys), "-o", str(tmp_path / "o"))
        assert f"{src}: {want}" in err
    err = one_line_error(capsys, "keys", "sign", str(tmp_path), "--key", str(tmp_path / "x.key"), "-o", "o")
    assert "cannot read key" in err
    (tmp_path / "bin.key").write_bytes(bytes(range(256)))
    err = one_line_error(capsys, "keys", "check", str(tmp_path / "bin.key"))
    assert "not valid YAML" in err


def test_node_with_unreachable_nats_gives_up_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keys: Path
) -> None:
    """It used to retry for ever, printing a traceback per attempt."""
    t0 = time.monotonic()
    code, _, err = cli(
        capsys, "node", "--partner", "JP", "--key", str(keys), "--nats", "nats://127.0.0.1:9",
        "--data", str(tmp_path / "d"), "--connect-attempts", "2", "--stages", "toy",
    )  # fmt: skip
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith(
        "tocsin: error: --nats: cannot connect to nats://127.0.0.1:9 after 2 attempts"
    )
    assert sum("attempt 1 of 2, retrying in 0.5 s" in ln for ln in lines) == 1
    assert time.monotonic() - t0 < 60


def test_cap_validate_refuses_entities_and_survives_hostile_xml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = "urn:oasis:names:tc:emergency:cap:1.2"
    files = {
        "xxe.xml": f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f'<alert xmlns="{ns}"><identifier>&x;</identifier></alert>',
        "laughs.xml": '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + f']><alert xmlns="{ns}"><identifier>&i;</identifier></alert>',
        "deep.xml": "<a>" * 3000 + "</a>" * 3000,
        "binary.xml": bytes(range(256)).decode("latin-1"),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="latin-1" if name == "binary.xml" else "utf-8")
        t0 = time.monotonic()
        code, out, err = cli(capsys, "cap", "validate", str(tmp_path / name))
        assert code in (1, 2), (name, out, err)
        assert "Traceback" not in out + err
        assert "root:" not in out + err  # /etc/passwd was never read into a message
        assert time.monotonic() - t0 < 30


def test_yaml_limits_are_exact() -> None:
    ok = "a: " + "[" * (MAX_NESTING - 1) + "1" + "]" * (MAX_NESTING - 1)
    assert yaml_load(ok) is not None
    import yaml

    with pytest.raises(yaml.YAMLError, match="nesting deeper than 64"):
        yaml_load("a: " + "[" * MAX_NESTING + "1" + "]" * MAX_NESTING)
    with pytest.raises(yaml.YAMLError, match="expands to more than"):
        yaml_load(BOMB)
    # aliases are fine while the expansion stays within the limit
    assert yaml_load("x: &x {a: 1}\ny: *x\n") == {"x": {"a": 1}, "y": {"a": 1}}
    assert MAX_NODES >= 100_000
