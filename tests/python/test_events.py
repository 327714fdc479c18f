"""
@file test_events.py
@brief Trusted-device events (spec §2.11) end to end on the emulator: Client.create_pending_event asks the user's
enrolled device, the device (a real Ed25519 key here) approves through the API, Client.get_event polls it and, with
the PKCE verifier of the request, collects the user's tokens once; the asyncio client does the same.
"""
from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from typing import Any, Dict, Tuple

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import cotter
from cotter import aio


def api(emulator: Any, method: str, path: str, body: Dict[str, Any], secret: bool = False) -> Dict[str, Any]:
    """One request to the emulator's API as a server or a device would send it (not through the SDK)."""
    headers = {"Content-Type": "application/json", "API_KEY_ID": emulator.api_key_id}
    if secret:
        headers["API_SECRET_KEY"] = emulator.api_secret_key
    req = urllib.request.Request(emulator.base_url + path, data=json.dumps(body).encode(), method=method,
                                 headers=headers)
    with urllib.request.urlopen(req) as resp:
        out: Dict[str, Any] = json.load(resp)
        return out


def enrolled_user(emulator: Any, client: cotter.Client, identifier: str) -> Tuple[str, Ed25519PrivateKey, str]:
    """A user with a trusted device: (user id, the device's key, its public key as sent)."""
    user = client.create_user(identifier)
    key = Ed25519PrivateKey.generate()
    pub = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    api(emulator, "PUT", f"/user/{user.id}",
        {"method": "TRUSTED_DEVICE", "enrolled": True, "code": pub, "algorithm": "ED25519"}, secret=True)
    return user.id, key, pub


def approve(emulator: Any, event: Dict[str, Any], key: Ed25519PrivateKey, pub: str, approved: bool = True) -> None:
    """The trusted device's signed answer (spec §2.11 message)."""
    b = {"client_user_id": event["client_user_id"], "issuer": emulator.api_key_id, "event": event["event"],
         "timestamp": event["timestamp"], "method": "TRUSTED_DEVICE", "approved": approved, "public_key": pub,
         "algorithm": "ED25519"}
    msg = f"{b['client_user_id']}{b['issuer']}{b['event']}{b['timestamp']}{b['method']}{str(approved).lower()}"
    b["code"] = base64.b64encode(key.sign(msg.encode())).decode()
    api(emulator, "POST", f"/event/respond/{event['ID']}", b)


def test_pending_event_approved_then_tokens_once(emulator: Any, client: cotter.Client) -> None:
    uid, key, pub = enrolled_user(emulator, client, "py-device@example.com")
    pkce = cotter.Pkce.generate()
    ev = client.create_pending_event(uid, "LOGIN", code_challenge=pkce.challenge)
    assert ev["ID"] > 0 and ev["new"] is True and ev["approved"] is False and ev["method"] == "TRUSTED_DEVICE"
    assert ev["issuer"] == emulator.api_key_id
    polled = client.get_event(ev["ID"], code_verifier=pkce.verifier)
    assert polled["new"] is True and "oauth_token" not in polled  # not approved yet: no tokens
    approve(emulator, ev, key, pub)
    with pytest.raises(cotter.OAuthError, match="code_verifier"):  # another verifier: the API refuses (403)
        client.get_event(ev["ID"], code_verifier=cotter.Pkce.generate().verifier)
    done = client.get_event(ev["ID"], code_verifier=pkce.verifier)
    assert done["approved"] is True and done["new"] is False
    tokens = done["oauth_token"]
    assert tokens["auth_method"] == "TRUSTED_DEVICE"
    assert client.verifier().verify(tokens["access_token"]).sub == uid
    with pytest.raises(cotter.OAuthError, match="already issued"):  # issued once
        client.get_event(ev["ID"], code_verifier=pkce.verifier)
    # A poll without the verifier still reads the event; the Event Token it is can be exchanged.
    plain = client.get_event(ev["ID"])
    assert plain["approved"] is True and "oauth_token" not in plain
    assert client.grant_event_token(json.dumps(plain)).auth_method == "TRUSTED_DEVICE"


def test_rejected_unknown_and_bad_arguments(emulator: Any, client: cotter.Client) -> None:
    uid, key, pub = enrolled_user(emulator, client, "py-device-no@example.com")
    ev = client.create_pending_event(uid, "TRANSACTION")
    approve(emulator, ev, key, pub, approved=False)
    got = client.get_event(ev["ID"])
    assert got["approved"] is False and got["new"] is False and got["event"] == "TRANSACTION"
    with pytest.raises(cotter.NotFound):
        client.get_event(ev["ID"] + 10_000)
    with pytest.raises(cotter.NotFound):
        client.create_pending_event("no-such-user")
    lonely = client.create_user("py-no-device@example.com")
    with pytest.raises(cotter.OAuthError, match="trusted device"):
        client.create_pending_event(lonely.id)
    with pytest.raises(cotter.InvalidArgument):
        client.get_event(0)
    with pytest.raises(cotter.InvalidArgument):
        client.get_event(ev["ID"], code_verifier="short")
    with pytest.raises(cotter.InvalidArgument):
        client.create_pending_event(uid, "")
    with pytest.raises(cotter.InvalidArgument):
        client.create_pending_event(uid, code_challenge="not a challenge")
    with pytest.raises((OverflowError, ValueError, cotter.InvalidArgument)):
        client.get_event(2**64)


def test_async_client(emulator: Any, client: cotter.Client) -> None:
    uid, key, pub = enrolled_user(emulator, client, "py-device-aio@example.com")
    pkce = cotter.Pkce.generate()

    async def main() -> Dict[str, Any]:
        c = aio.AsyncClient(api_key_id=emulator.api_key_id, base_url=emulator.base_url)
        ev = await c.create_pending_event(uid, code_challenge=pkce.challenge)
        assert ev["new"] is True and ev["event"] == "LOGIN"
        approve(emulator, ev, key, pub)
        with pytest.raises(cotter.NotFound):
            await c.get_event(ev["ID"] + 10_000)
        return await c.get_event(ev["ID"], code_verifier=pkce.verifier)

    done = asyncio.run(main())
    assert done["approved"] is True and done["oauth_token"]["auth_method"] == "TRUSTED_DEVICE"
