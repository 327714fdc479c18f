"""
@file test_jwt_verify.py
@brief `cotter verify` (and cotter.Verifier) on every row of bad-inputs.md §1c: each hostile token is rejected
with exit 1 and `error: <CODE>: ...` on stderr, CODE the stable C ABI name; the controls are accepted.

Tokens are made here with `cryptography` (tests/python/jwt_tools.py), not with the code under test.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import pytest

import cotter
from cotter import cli
from jwt_tools import AUD, BASE_NOW, ISS, KID, N_P256, Key, b64u, claims, hs256, jwks, make, resign, segments

from conftest import run_cli

NOW = BASE_NOW  # claims() builds around it; --now pins the verifier to it
K1 = Key()
K2 = Key(kid="SPACE_JWT_PUBLIC:2ND-KEY")
P384 = Key(curve=__import__("cryptography.hazmat.primitives.asymmetric.ec", fromlist=["ec"]).SECP384R1())
JWKS1 = jwks(K1)

Codes = Union[str, Tuple[str, ...]]


def _verify(tmp_path: Path, token: str, jwks_doc: str = JWKS1, extra: Sequence[str] = (),
            capsys: Optional[pytest.CaptureFixture[str]] = None) -> Tuple[int, str, str]:
    """Runs `cotter verify` in-process (same entry point as the console script)."""
    f = tmp_path / "jwks.json"
    f.write_text(jwks_doc)
    assert capsys is not None
    capsys.readouterr()
    rc = cli.main(["verify", token, "--jwks-file", str(f), "--audience", AUD, "--now", str(NOW), *extra])
    out, err = capsys.readouterr()
    return rc, out, err


def _bad(tmp_path: Path, capsys: pytest.CaptureFixture[str], token: str, codes: Codes, jwks_doc: str = JWKS1,
         extra: Sequence[str] = ()) -> None:
    rc, out, err = _verify(tmp_path, token, jwks_doc, extra, capsys)
    allowed = (codes,) if isinstance(codes, str) else codes
    assert rc == 1, (rc, out, err)
    assert out == "", "no claims may be printed for a rejected token"
    assert err.startswith("error: COTTER_E") and err.count("\n") == 1, err  # one line, nothing else
    code = err.split(":")[1].strip()
    assert code in allowed, err
    assert token[-20:] not in err or len(token) < 20, "the message must not echo the token"


def h(**fields: Any) -> Dict[str, Any]:
    base: Dict[str, Any] = {"alg": "ES256", "kid": KID, "typ": "JWT"}
    for k, v in fields.items():
        if v is ...:
            base.pop(k, None)
        else:
            base[k] = v
    return base


# --- rows 1-4: alg, confusion, mismatch, key injection ----------------------------------------------

ALG_ROWS: List[Tuple[str, Dict[str, Any]]] = [
    ("none", h(alg="none")), ("None", h(alg="None")), ("NONE", h(alg="NONE")), ("nOnE", h(alg="nOnE")),
    ("missing", h(alg=...)), ("number", h(alg=256)), ("array", h(alg=["ES256"])), ("null", h(alg=None)),
    ("RS256", h(alg="RS256")), ("PS256", h(alg="PS256")), ("EdDSA", h(alg="EdDSA")),
    ("ES384", h(alg="ES384")), ("ES512", h(alg="ES512")), ("es256 lower", h(alg="es256")),
]


@pytest.mark.parametrize("name,header", ALG_ROWS, ids=[r[0] for r in ALG_ROWS])
def test_row1_3_alg_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                             header: Dict[str, Any]) -> None:
    _bad(tmp_path, capsys, make(K1, header=header), "COTTER_EJWT_ALG")


def test_row1_none_with_empty_signature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = b64u(json.dumps({"alg": "none"})) + "." + b64u(json.dumps(claims())) + "."
    _bad(tmp_path, capsys, token, ("COTTER_EJWT_ALG", "COTTER_EJWT_MALFORMED"))


@pytest.mark.parametrize("form", ["pem", "jwk", "raw_xy", "uncompressed", "empty"])
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_row2_hmac_with_public_key(tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str, alg: str) -> None:
    nums = K1.pub.public_numbers()
    xy = nums.x.to_bytes(32, "big") + nums.y.to_bytes(32, "big")
    secret = {"pem": K1.pem(), "jwk": json.dumps(K1.jwk()).encode(), "raw_xy": xy, "uncompressed": b"\x04" + xy,
              "empty": b""}[form]
    _bad(tmp_path, capsys, hs256(secret, claims(), alg=alg), "COTTER_EJWT_ALG")


def test_row3_es256_header_with_p384_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a well-formed 64-byte ES256 signature, but the JWKS offers a P-384 key under the token's kid
    _bad(tmp_path, capsys, make(K1), ("COTTER_EJWT_KEY_MISMATCH", "COTTER_EJWKS_INVALID"), jwks_doc=jwks(P384))


def test_row3_jwk_alg_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad(tmp_path, capsys, make(K1), ("COTTER_EJWT_KEY_MISMATCH", "COTTER_EJWKS_INVALID"),
         jwks_doc=jwks(K1, alg="ES384"))


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
def test_row4_key_injection_headers(tmp_path: Path, capsys: pytest.CaptureFixture[str], member: str) -> None:
    attacker = Key()
    value: Any = {"jwk": attacker.jwk(), "jku": "https://evil.example/jwks", "x5u": "https://evil.example/c.pem",
                  "x5c": ["MIIB"]}[member]
    _bad(tmp_path, capsys, make(attacker, header=h(**{member: value})), "COTTER_EJWT_HEADER")


# --- row 5: kid abuse ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kid", ["../../etc/passwd", "a\u0000b", "k" * 10000, 7, ["x"], None, {"a": 1}],
                         ids=["dotdot", "nul", "10k", "number", "array", "null", "object"])
def test_row5_kid_abuse(tmp_path: Path, capsys: pytest.CaptureFixture[str], kid: Any) -> None:
    codes: Codes = ("COTTER_EJWT_HEADER", "COTTER_EJWT_KEY_NOT_FOUND")
    if isinstance(kid, str) and len(kid) > 4096:
        codes = ("COTTER_EJWT_HEADER", "COTTER_EJWT_MALFORMED")  # the header size cap comes first
    if not isinstance(kid, str):
        codes = "COTTER_EJWT_HEADER"
    _bad(tmp_path, capsys, make(K1, header=h(kid=kid)), codes)


def test_row5_duplicate_kids_in_jwks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = Key(kid=KID)
    doc = json.dumps({"keys": [other.jwk(), K1.jwk()]})
    _bad(tmp_path, capsys, make(K1), ("COTTER_EJWKS_INVALID", "COTTER_EJWT_SIGNATURE"), jwks_doc=doc)


def test_row5_random_kids_fetch_once_per_cooldown(emulator: Any) -> None:
    v = cotter.Verifier(emulator.api_key_id, jwks_url=emulator.jwks_url, jwks_cooldown=60)
    emulator.dev("/stats/reset", {})
    good = emulator.dev("/access_token", {"identifier": "kids@example.com"})["access_token"]
    v.verify(good)
    for i in range(20):
        with pytest.raises((cotter.JWTKeyNotFound, cotter.JWTSignatureError)):
            v.verify(make(Key(kid=f"SPACE_JWT_PUBLIC:RANDOM-{i}"), claims(aud=emulator.api_key_id)))
    fetches = emulator.dev("/stats")["requests"].get("GET /api/v0/token/jwks", 0)
    assert 1 <= fetches <= 2, f"{fetches} JWKS fetches for 20 unknown kids"


# --- row 6: crit --------------------------------------------------------------------------------------

CRIT_ROWS: List[Tuple[str, Dict[str, Any], Codes]] = [
    ("unknown", h(crit=["unknown"], unknown=1), "COTTER_EJWT_CRIT"),
    ("empty", h(crit=[]), "COTTER_EJWT_CRIT"),
    ("not array", h(crit="exp"), "COTTER_EJWT_CRIT"),
    ("registered", h(crit=["alg"]), "COTTER_EJWT_CRIT"),
    ("absent member", h(crit=["zzz"]), "COTTER_EJWT_CRIT"),
    ("b64 false without crit", h(b64=False), ("COTTER_EJWT_HEADER", "COTTER_EJWT_CRIT")),
    ("b64 false with crit", h(b64=False, crit=["b64"]), ("COTTER_EJWT_HEADER", "COTTER_EJWT_CRIT")),
]


@pytest.mark.parametrize("name,header,codes", CRIT_ROWS, ids=[r[0] for r in CRIT_ROWS])
def test_row6_crit(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, header: Dict[str, Any],
                   codes: Codes) -> None:
    _bad(tmp_path, capsys, make(K1, header=header), codes)


# --- row 7: claim types -------------------------------------------------------------------------------

CLAIM_ROWS: List[Tuple[str, Dict[str, Any], Codes]] = []
for _claim in ("exp", "nbf", "iat"):
    # Not a number, negative, or beyond int64 (integer or float). A fraction is valid: see test_row7_fraction.
    for _label, _value in [("numeric string", "9999999999"), ("never", "never"), ("true", True), ("null", None),
                           ("array", []), ("object", {}), ("beyond int64", 2 ** 64), ("negative", -5),
                           ("negative fraction", -0.5), ("float beyond int64", 9.3e18)]:
        CLAIM_ROWS.append((f"{_claim} {_label}", {_claim: _value}, "COTTER_EJWT_CLAIM_TYPE"))
CLAIM_ROWS += [
    ("aud empty array", {"aud": []}, ("COTTER_EJWT_CLAIM_TYPE", "COTTER_EJWT_AUDIENCE")),
    ("aud number", {"aud": 5}, "COTTER_EJWT_CLAIM_TYPE"),
    ("aud array of numbers", {"aud": [1, 2]}, "COTTER_EJWT_CLAIM_TYPE"),
    ("iss array", {"iss": [ISS]}, "COTTER_EJWT_CLAIM_TYPE"),
    ("sub number", {"sub": 5}, "COTTER_EJWT_CLAIM_TYPE"),
]


@pytest.mark.parametrize("name,override,codes", CLAIM_ROWS, ids=[r[0] for r in CLAIM_ROWS])
def test_row7_claim_types(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                          override: Dict[str, Any], codes: Codes) -> None:
    payload = claims(**override)
    raw = json.dumps(payload).replace("18446744073709551616", "1" + "0" * 30)
    if "1e400" in name:
        raw = raw.replace('"exp": 0', '"exp": 1e400')
    _bad(tmp_path, capsys, make(K1, raw_payload=raw), codes)


def test_row7_fraction_is_a_valid_numeric_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """RFC 7519 §2: a NumericDate may be non-integer (jose and PyJWT accept it). Compared as a number, floored by
    the getters, kept as signed in the claims JSON."""
    rc, out, err = _verify(tmp_path, make(K1, claims(exp=NOW + 0.5, iat=NOW - 0.25, nbf=NOW - 0.75)),
                           extra=["--leeway", "0"], capsys=capsys)
    assert rc == 0, err
    assert json.loads(out)["exp"] == NOW + 0.5
    _bad(tmp_path, capsys, make(K1, claims(exp=NOW - 0.5, iat=NOW - 100)), "COTTER_EJWT_EXPIRED", extra=["--leeway", "0"])
    _bad(tmp_path, capsys, make(K1, claims(nbf=NOW + 0.5)), "COTTER_EJWT_NOT_YET_VALID", extra=["--leeway", "0"])
    _bad(tmp_path, capsys, make(K1, claims(iat=NOW + 0.5)), "COTTER_EJWT_NOT_YET_VALID", extra=["--leeway", "0"])

    verifier = cotter.Verifier(AUD, jwks=JWKS1, now=1796537618 - 60)
    got = verifier.verify(make(K1, claims(exp=1796537618.5, iat=1796537618 - 120.5)))
    assert (got.exp, got.iat) == (1796537618, 1796537618 - 121)


def test_row7_exp_1e400(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = json.dumps(claims(exp=0)).replace('"exp": 0', '"exp": 1e400')
    _bad(tmp_path, capsys, make(K1, raw_payload=raw), "COTTER_EJWT_CLAIM_TYPE")


# --- row 8: iss matching ------------------------------------------------------------------------------


@pytest.mark.parametrize("iss", [ISS + ".evil", ISS + "/x", ISS + "/", "https://www.cotter.ap", "https://WWW.cotter.app",
                                 "HTTPS://www.cotter.app", "https://www.cotter.\u0430pp", "", " " + ISS])
def test_row8_issuer_variants(tmp_path: Path, capsys: pytest.CaptureFixture[str], iss: str) -> None:
    _bad(tmp_path, capsys, make(K1, claims(iss=iss)), "COTTER_EJWT_ISSUER")


def test_row8_audience_substring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad(tmp_path, capsys, make(K1, claims(aud=AUD[:-1])), "COTTER_EJWT_AUDIENCE")
    _bad(tmp_path, capsys, make(K1, claims(aud=[AUD + "x", "other"])), "COTTER_EJWT_AUDIENCE")


# --- row 9: time edges (clock pinned with --now) -----------------------------------------------------


def test_row9_time_edges(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad(tmp_path, capsys, make(K1, claims(exp=NOW, iat=NOW - 10)), "COTTER_EJWT_EXPIRED", extra=["--leeway", "0"])
    _bad(tmp_path, capsys, make(K1, claims(exp=NOW - 6, iat=NOW - 100)), "COTTER_EJWT_EXPIRED")
    _bad(tmp_path, capsys, make(K1, claims(nbf=NOW + 6)), "COTTER_EJWT_NOT_YET_VALID")
    _bad(tmp_path, capsys, make(K1, claims(iat=NOW + 60)), "COTTER_EJWT_NOT_YET_VALID")
    _bad(tmp_path, capsys, make(K1, claims(exp=...)), "COTTER_EJWT_MISSING_CLAIM")
    _bad(tmp_path, capsys, make(K1, claims(iss=...)), "COTTER_EJWT_MISSING_CLAIM")
    _bad(tmp_path, capsys, make(K1, claims(aud=...)), "COTTER_EJWT_MISSING_CLAIM")
    # inside the leeway: accepted
    rc, out, err = _verify(tmp_path, make(K1, claims(exp=NOW - 3, iat=NOW - 100)), capsys=capsys)
    assert rc == 0, err
    rc, out, err = _verify(tmp_path, make(K1, claims(nbf=NOW + 4)), capsys=capsys)
    assert rc == 0, err


# --- row 10: ordering --------------------------------------------------------------------------------


def test_row10_expired_with_bad_signature_reports_signature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expired = make(K1, claims(exp=NOW - 1000, iat=NOW - 5000))
    forged = resign(expired, Key())
    _bad(tmp_path, capsys, forged, "COTTER_EJWT_SIGNATURE")


# --- row 11: signature encodings ---------------------------------------------------------------------


def _with_sig(sig: bytes) -> str:
    return make(K1, signature=sig)


def test_row11_signature_encodings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = make(K1)
    hs, ps, ss = good.split(".")
    import base64

    raw = base64.urlsafe_b64decode(ss + "==")
    r, s = raw[:32], raw[32:]
    variants = {
        "len0": b"", "len63": raw[:63], "len65": raw + b"\x00", "len66 zero-padded": b"\x00" + r + b"\x00" + s,
        "len128": raw + raw, "r=0": b"\x00" * 32 + s, "s=0": r + b"\x00" * 32, "r=s=0": b"\x00" * 64,
        "r=n": N_P256.to_bytes(32, "big") + s, "s>=n": r + (N_P256 + 1).to_bytes(32, "big"),
        "trailing": raw + b"\x01",
    }
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    variants["der"] = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    for name, sig in variants.items():
        token = f"{hs}.{ps}.{b64u(sig)}"
        _bad(tmp_path, capsys, token, ("COTTER_EJWT_SIGNATURE", "COTTER_EJWT_MALFORMED") if name == "len0"
             else "COTTER_EJWT_SIGNATURE")


# --- row 12: base64url strictness --------------------------------------------------------------------


def test_row12_base64url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = make(K1)
    hs, ps, ss = good.split(".")
    cases = [
        f"{hs}=.{ps}.{ss}", f"{hs}.{ps}.{ss}=", f"{hs}.{ps.replace('-', '+')}+.{ss}", f"{hs}.{ps}/.{ss}",
        f"{hs} .{ps}.{ss}", f"{hs}.{ps}\n.{ss}", f"{hs}.{ps}.{ss[:-1]}" + ("B" if ss[-1] == "A" else "A"),
        f".{ps}.{ss}", f"{hs}..{ss}", f"{hs}.{ps}.", f"{hs}.{ps}é.{ss}",
    ]
    for token in cases:
        _bad(tmp_path, capsys, token, ("COTTER_EJWT_MALFORMED", "COTTER_EJWT_SIGNATURE"))
    # a non-zero trailing-bits variant of the signature must not verify as the same token
    last = ss[-1]
    alt = {"A": "B", "Q": "R", "g": "h", "w": "x"}.get(last)
    if alt:
        _bad(tmp_path, capsys, f"{hs}.{ps}.{ss[:-1]}{alt}", ("COTTER_EJWT_MALFORMED", "COTTER_EJWT_SIGNATURE"))


# --- row 13: structure / DoS -------------------------------------------------------------------------


def test_row13_structure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = make(K1)
    hs, ps, ss = good.split(".")
    for token in ["", hs, f"{hs}.{ps}", f"{hs}.{ps}.{ss}.x", f"{hs}.{ps}.{ss}.x.y", "." * 1_000_000,
                  make(K1, raw_header=json.dumps({"alg": "ES256", "kid": KID, "pad": "a" * 65536})),
                  make(K1, raw_payload="[" * 10000 + "]" * 10000),
                  make(K1, raw_payload='{"a":' * 10000 + "1" + "}" * 10000),
                  b64u(json.dumps({"alg": "RSA-OAEP", "enc": "A256GCM", "zip": "DEF"})) + ".a.b.c.d"]:
        # Rejected before any deep parse; a hang would trip pytest-timeout (no timings in tests).
        _bad(tmp_path, capsys, token, ("COTTER_EJWT_MALFORMED", "COTTER_EJWT_ALG"))


# --- row 14: duplicate members -----------------------------------------------------------------------


@pytest.mark.parametrize("raw_header,raw_payload", [
    ('{"alg":"ES256","alg":"ES256","kid":"%s"}' % KID, None),
    ('{"alg":"ES256","\\u0061lg":"ES256","kid":"%s"}' % KID, None),
    (None, "exp"), (None, "sub"), (None, "aud"), (None, "nested"),
], ids=["alg", "escaped alg", "exp", "sub", "aud", "nested"])
def test_row14_duplicates(tmp_path: Path, capsys: pytest.CaptureFixture[str], raw_header: Optional[str],
                          raw_payload: Optional[str]) -> None:
    body = json.dumps(claims())[:-1]
    extra = {"exp": f', "exp": {NOW + 99}', "sub": ', "sub": "other"', "aud": f', "aud": "{AUD}"',
             "nested": ', "ctx": {"a": 1, "a": 2}'}
    payload = body + extra[raw_payload] + "}" if raw_payload else None
    _bad(tmp_path, capsys, make(K1, raw_header=raw_header, raw_payload=payload), "COTTER_EJWT_DUPLICATE")


# --- row 15: JWKS content ----------------------------------------------------------------------------


def test_row15_jwks_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = make(K1)
    jwk = K1.jwk()
    off_curve = dict(jwk, y=b64u((int.from_bytes(__import__("base64").urlsafe_b64decode(jwk["y"] + "=="), "big") ^ 1)
                                 .to_bytes(32, "big")))
    bad_docs: List[Tuple[str, Any, Codes]] = [
        ("off curve", {"keys": [off_curve]}, ("COTTER_EJWKS_INVALID", "COTTER_EJWT_KEY_MISMATCH")),
        ("wrong crv", {"keys": [dict(jwk, crv="P-384")]}, ("COTTER_EJWKS_INVALID", "COTTER_EJWT_KEY_MISMATCH")),
        ("oct", {"keys": [{"kty": "oct", "k": b64u(b"secret"), "kid": KID}]},
         ("COTTER_EJWKS_INVALID", "COTTER_EJWT_KEY_MISMATCH")),
        ("use enc", {"keys": [dict(jwk, use="enc")]}, ("COTTER_EJWT_KEY_MISMATCH", "COTTER_EJWKS_INVALID")),
        ("key_ops sign only", {"keys": [dict(jwk, key_ops=["sign"])]},
         ("COTTER_EJWT_KEY_MISMATCH", "COTTER_EJWKS_INVALID")),
        ("missing y", {"keys": [{k: v for k, v in jwk.items() if k != "y"}]},
         ("COTTER_EJWKS_INVALID", "COTTER_EJWT_KEY_MISMATCH")),
        ("keys not array", {"keys": {"a": jwk}}, "COTTER_EJWKS_INVALID"),
        ("not json", "{", "COTTER_EJWKS_INVALID"),
        ("huge n", {"keys": [{"kty": "RSA", "n": "A" * 100000, "e": "AQAB", "kid": KID}]},
         ("COTTER_EJWKS_INVALID", "COTTER_EJWT_KEY_MISMATCH")),
    ]
    for name, doc, codes in bad_docs:
        _bad(tmp_path, capsys, token, codes, jwks_doc=doc if isinstance(doc, str) else json.dumps(doc))
    # a private `d` is ignored, not an error
    rc, out, err = _verify(tmp_path, token, json.dumps({"keys": [dict(jwk, d=b64u(b"x" * 32))]}), capsys=capsys)
    assert rc == 0, err


# --- row 16: JWKS transport (remote key set from the emulator, with faults) -------------------------


@pytest.mark.parametrize("fault", [
    {"redirect": "file:///etc/passwd"}, {"redirect": "http://169.254.169.254/"}, {"oversized": True},
    {"status": 500}, {"status": 429, "retry_after": 1}, {"non_json": True},
    {"slow_drip": True, "chunk_bytes": 1, "interval_ms": 400},
], ids=["redirect-file", "redirect-metadata", "10MB", "500", "429", "html", "slow-drip"])
def test_row16_jwks_transport_keeps_last_good_keys(emulator: Any, fault: Dict[str, Any]) -> None:
    v = cotter.Verifier(emulator.api_key_id, jwks_url=emulator.jwks_url, jwks_timeout=1.5,
                        jwks_cooldown=0, jwks_max_age=1)
    good = emulator.dev("/access_token", {"identifier": "t16@example.com"})["access_token"]
    v.verify(good)  # keys fetched
    emulator.fault("GET /api/v0/token/jwks", count=5, **fault)
    with pytest.raises(cotter.JWKSError):
        v.refresh()
    assert v.verify(good).identifier == "t16@example.com", "last-good keys must survive a failed fetch"

    fresh = cotter.Verifier(emulator.api_key_id, jwks_url=emulator.jwks_url, jwks_timeout=1.5)
    with pytest.raises((cotter.JWKSUnavailable, cotter.JWKSInvalid)):
        fresh.verify(good)


def test_row16_plain_http_to_remote_host_refused() -> None:
    with pytest.raises(cotter.InvalidArgument):
        cotter.Verifier(AUD, jwks_url="http://example.com/jwks")
    with pytest.raises(cotter.InvalidArgument):
        cotter.Verifier(AUD, jwks_url="file:///etc/passwd")


# --- row 17: multi-tenant isolation ------------------------------------------------------------------


def test_row17_two_verifiers_same_kid() -> None:
    a, b = Key(kid="shared"), Key(kid="shared")
    va = cotter.Verifier(AUD, jwks=jwks(a), issuer="https://a.example")
    vb = cotter.Verifier(AUD, jwks=jwks(b), issuer="https://b.example")
    tb = make(b, claims(iss="https://b.example"), header=h(kid="shared"))
    assert vb.verify(tb).iss == "https://b.example"
    with pytest.raises(cotter.JWTSignatureError):
        va.verify(tb)


# --- row 18: cache-key collisions (verified-token cache on) ------------------------------------------


def test_row18_cache_does_not_confuse_tokens() -> None:
    v = cotter.Verifier(AUD, jwks=JWKS1, token_cache_size=64)
    good = make(K1)
    assert v.verify(good).sub == "user-1"
    hs, ps, ss = good.split(".")
    forged = f"{hs}.{ps}.{b64u(Key().raw_sig(f'{hs}.{ps}'.encode()))}"
    for _ in range(2):
        with pytest.raises(cotter.JWTSignatureError):
            v.verify(forged)
    last = ss[-1]
    alt = {"A": "B", "Q": "R", "g": "h", "w": "x"}.get(last)
    if alt:
        with pytest.raises((cotter.JWTSignatureError, cotter.JWTMalformed)):
            v.verify(f"{hs}.{ps}.{ss[:-1]}{alt}")
    assert v.verify(good).sub == "user-1"


# --- rows 19-20: controls ----------------------------------------------------------------------------


def test_row19_accept_second_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = make(K2)
    rc, out, err = _verify(tmp_path, token, jwks(K1, K2), capsys=capsys)
    assert rc == 0, err
    assert err == ""
    data = json.loads(out)
    assert data["sub"] == "user-1" and data["aud"] == AUD


def test_row20_accept_after_rotation(emulator: Any) -> None:
    v = cotter.Verifier(emulator.api_key_id, jwks_url=emulator.jwks_url, jwks_cooldown=0)
    first = emulator.dev("/access_token", {"identifier": "rot@example.com"})["access_token"]
    claims_before = v.verify(first)
    new_kid = emulator.dev("/keys/rotate", {})["kid"]
    second = emulator.dev("/access_token", {"identifier": "rot@example.com"})["access_token"]
    claims_after = v.verify(second)  # unknown kid -> one refetch -> accepted
    assert claims_after.kid == new_kid != claims_before.kid
    assert v.verify(first).kid == claims_before.kid  # the old key is still in its grace period


# --- the CLI contract itself ---------------------------------------------------------------------------


def test_cli_verify_contract_in_a_real_process(tmp_path: Path, emulator: Any) -> None:
    token = emulator.dev("/access_token", {"identifier": "cli@example.com"})["access_token"]
    ok = run_cli(["verify", token, "--jwks-url", emulator.jwks_url, "--audience", emulator.api_key_id])
    assert ok.returncode == 0, ok.stderr
    claims_out = json.loads(ok.stdout)
    assert claims_out["identifier"] == "cli@example.com"
    assert ok.stdout.count("\n") == 1

    bad = run_cli(["verify", resign(token, Key()), "--jwks-url", emulator.jwks_url, "--audience", emulator.api_key_id])
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("error: COTTER_EJWT_SIGNATURE: ")

    usage = run_cli(["verify", token, "--audience", "x"])  # no key source
    assert usage.returncode == 2

    via_stdin = run_cli(["verify", "-", "--jwks-url", emulator.jwks_url, "--audience", emulator.api_key_id],
                        input=token + "\n")
    assert via_stdin.returncode == 0 and json.loads(via_stdin.stdout)["identifier"] == "cli@example.com"

    wrong_aud = run_cli(["verify", token, "--jwks-url", emulator.jwks_url, "--audience", AUD])
    assert wrong_aud.returncode == 1 and wrong_aud.stderr.startswith("error: COTTER_EJWT_AUDIENCE: ")

    expired = run_cli(["verify", token, "--jwks-url", emulator.jwks_url, "--audience", emulator.api_key_id,
                       "--now", str(int(time.time()) + 7200)])
    assert expired.returncode == 1 and expired.stderr.startswith("error: COTTER_EJWT_EXPIRED: ")


def test_verifier_accepts_bytes_and_exposes_claims() -> None:
    v = cotter.Verifier(AUD, jwks=json.loads(JWKS1))
    payload = claims(custom={"role": "admin"}, client_user_id="cu-1", jti="j-1", type="client_access_token")
    token = make(K1, payload)
    c = v.verify(token.encode())
    assert (c.sub, c.iss, c.aud, c.identifier, c.scope, c.type, c.client_user_id, c.jti, c.kid) == (
        "user-1", ISS, [AUD], "a@example.com", "access", "client_access_token", "cu-1", "j-1", KID)
    assert c.authentication_method == "OTP" and c.exp == payload["exp"] and c.iat == payload["iat"] and c.nbf == 0
    assert c["custom"] == {"role": "admin"} and c.get("missing") is None
    assert json.loads(c.json) == payload
    assert v.is_valid(token) and not v.is_valid(resign(token, Key()))
    v.check(token)
    with pytest.raises(TypeError):
        v.verify(12)  # type: ignore[arg-type]


def test_cli_issuer_and_leeway_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = "https://issuer.example.com"
    token = make(K1, claims(iss=other))
    _bad(tmp_path, capsys, token, "COTTER_EJWT_ISSUER")  # the default issuer is Cotter's
    rc, out, err = _verify(tmp_path, token, extra=["--issuer", other], capsys=capsys)
    assert rc == 0 and json.loads(out)["iss"] == other, err
    late = make(K1, claims(exp=NOW - 60, iat=NOW - 1000))
    _bad(tmp_path, capsys, late, "COTTER_EJWT_EXPIRED")
    rc, out, err = _verify(tmp_path, late, extra=["--leeway", "120"], capsys=capsys)
    assert rc == 0, err
    # Out of range: a usage error (argparse, exit 2, as docs/python.md says), not a verdict (issue 15 item 12).
    with pytest.raises(SystemExit) as exited:
        _verify(tmp_path, late, extra=["--leeway", "301"], capsys=capsys)
    assert exited.value.code == 2 and "argument --leeway: 301 is not in [0, 300]" in capsys.readouterr().err
    rc, out, err = _verify(tmp_path, make(K1), extra=["--pretty"], capsys=capsys)
    assert rc == 0 and json.loads(out)["sub"] == "user-1" and out.count("\n") > 2
    missing = cli.main(["verify", make(K1), "--jwks-file", str(tmp_path / "absent.json"), "--audience", AUD])
    assert missing == 2


def test_cli_verify_bounded_inputs(tmp_path: Path) -> None:
    """Hostile files and streams end in a clear error, never in an unbounded read."""
    token = make(K1)
    endless = run_cli(["verify", token, "--jwks-file", "/dev/zero", "--audience", AUD], timeout=60)
    assert endless.returncode == 1 and endless.stderr.startswith("error: COTTER_EJWKS_INVALID: "), endless.stderr
    binary = tmp_path / "jwks.bin"
    binary.write_bytes(b'{"keys":[\xff]}')
    bad_utf8 = run_cli(["verify", token, "--jwks-file", str(binary), "--audience", AUD])
    assert bad_utf8.returncode == 1 and bad_utf8.stderr.startswith("error: COTTER_EJWKS_INVALID: ")
    f = tmp_path / "jwks.json"
    f.write_text(JWKS1)
    huge = run_cli(["verify", "-", "--jwks-file", str(f), "--audience", AUD], input="a" * 200_000)
    assert huge.returncode == 1 and huge.stderr.startswith("error: COTTER_EJWT_MALFORMED: ")
    ok = run_cli(["verify", "-", "--jwks-file", str(f), "--audience", AUD, "--now", str(NOW)], input=token + "\n")
    assert ok.returncode == 0 and json.loads(ok.stdout)["sub"] == "user-1"
    other_issuer = run_cli(["verify", token, "--jwks-file", str(f), "--audience", AUD, "--issuer", "x"])
    assert other_issuer.returncode == 1 and other_issuer.stderr.startswith("error: COTTER_EJWT_ISSUER: ")


# --- the remote-key-set rows once more through `cotter verify --jwks-url` in a real process --------------


@pytest.mark.parametrize("fault", [{"redirect": "file:///etc/passwd"}, {"redirect": "http://169.254.169.254/"},
                                   {"oversized": True}, {"status": 500}, {"non_json": True}],
                         ids=["redirect-file", "redirect-metadata", "10MB", "500", "html"])
def test_cli_row16_jwks_transport(emulator: Any, fault: Dict[str, Any]) -> None:
    good = emulator.dev("/access_token", {"identifier": "cli16@example.com"})["access_token"]
    emulator.fault("GET /api/v0/token/jwks", count=5, **fault)
    r = run_cli(["verify", good, "--jwks-url", emulator.jwks_url, "--audience", emulator.api_key_id])
    assert r.returncode == 1 and r.stdout == ""
    # Exactly one line: the library's own log lines stay out of stderr unless -v asks for them.
    assert r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(("error: COTTER_EJWKS_UNAVAILABLE: ", "error: COTTER_EJWKS_INVALID: ")), r.stderr
    verbose = run_cli(["-v", "verify", good, "--jwks-url", emulator.jwks_url, "--audience", emulator.api_key_id])
    assert verbose.returncode == 1 and "cotter: WARNING: " in verbose.stderr, verbose.stderr


def test_cli_row5_unknown_kid_and_row20_rotation(emulator: Any) -> None:
    args = ["--jwks-url", emulator.jwks_url, "--audience", emulator.api_key_id]
    random_kid = make(Key(kid="SPACE_JWT_PUBLIC:RANDOM"), claims(aud=emulator.api_key_id))
    r = run_cli(["verify", random_kid, *args])
    assert r.returncode == 1 and r.stderr.startswith("error: COTTER_EJWT_KEY_NOT_FOUND: "), r.stderr
    before = emulator.dev("/access_token", {"identifier": "cli20@example.com"})["access_token"]
    new_kid = emulator.dev("/keys/rotate", {})["kid"]
    after = emulator.dev("/access_token", {"identifier": "cli20@example.com"})["access_token"]
    r = run_cli(["verify", after, *args])
    assert r.returncode == 0 and json.loads(r.stdout)["identifier"] == "cli20@example.com", r.stderr
    assert run_cli(["verify", before, *args]).returncode == 0  # the old key is still in its grace period
    assert segments(after)[0] != segments(before)[0] and new_kid
