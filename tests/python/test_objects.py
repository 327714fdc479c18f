"""
@file test_objects.py
@brief Every object the API returns: no repr or str shows a secret or a whole token, results are immutable,
and Python objects keep their native parents alive (dropping the parent first never frees what a child uses).
"""
from __future__ import annotations

import gc
import weakref
from typing import Any, List

import pytest

import cotter
from jwt_tools import AUD, Key, jwks, make


def _secrets_absent(text: str, *secrets: str) -> None:
    for s in secrets:
        assert s not in text, f"{s[:12]}… leaked into {text!r}"


def test_no_repr_shows_a_secret_or_a_token(emulator: Any, client: cotter.Client) -> None:
    body = emulator.login("repr@example.com")
    oauth = body["oauth_token"]
    token = cotter.Token.from_dict(oauth)
    secrets = [oauth["access_token"], oauth["id_token"], oauth["refresh_token"], emulator.api_secret_key,
               oauth["refresh_token"].split(":", 1)[1], oauth["access_token"].split(".")[2]]

    verifier = client.verifier()
    claims = verifier.verify(token.access_token or "")
    session = cotter.TokenSession(client, token=token)
    pkce = cotter.Pkce.generate()
    custom = client.custom_claims(token.access_token or "", {"role": "r"}, refresh_token=token.refresh_token)
    secrets += [custom.token, custom.refresh_token or "", pkce.verifier]
    user = client.create_user("repr@example.com")
    emulator.dev("/social_tokens", {"user_id": user.id, "identity_provider": "GITHUB",
                                    "tokens": {"access_token": "gho_REPRSECRET", "scope": "repo"}})
    social = client.social_tokens(user.id or "")
    secrets.append("gho_REPRSECRET")
    objects: List[Any] = [client, token, claims, verifier, session, pkce, custom, user, social,
                          client.stats(), client.verify_remote(token.access_token or "")]
    try:
        client.refresh("1:" + "s" * 40)
    except cotter.CotterError as e:
        objects.append(e)
        secrets.append("s" * 40)
    for obj in objects:
        _secrets_absent(repr(obj), *secrets)
        _secrets_absent(str(obj), *secrets)
    assert "<redacted>" in repr(token) and "<redacted>" in repr(pkce) and "<redacted>" in repr(social)
    assert repr(token).startswith("Token(access_token='eyJ")  # enough to recognise it, not to use it


def test_identity_repr_hides_its_tokens(emulator: Any, client: cotter.Client) -> None:
    from demo_login_driver import drive_login
    import threading

    def browser(url: str) -> None:
        threading.Thread(target=drive_login, args=(url, emulator.dev_url, emulator.dev_token, "ident-repr@example.com"),
                         daemon=True).start()

    identity = cotter.login(client, open_url=browser, timeout=30, login_page_url=emulator.login_url)
    assert identity.token is not None and identity.identity_token
    text = repr(identity)
    _secrets_absent(text, identity.token.access_token or "", identity.token.refresh_token or "",
                    identity.identity_token["signature"])
    assert "ident-repr@example.com" in text


def test_results_are_immutable(emulator: Any, client: cotter.Client) -> None:
    user = client.create_user("frozen@example.com")
    with pytest.raises(AttributeError):
        user.id = "other"  # type: ignore[misc]
    token = cotter.Token.from_dict(emulator.login("frozen@example.com")["oauth_token"])
    with pytest.raises(AttributeError):
        token.access_token = "x"  # type: ignore[misc]
    assert user == client.get_user(user.id or "") and hash(user) == hash(client.get_user(user.id or ""))


def test_children_outlive_their_parents(emulator: Any) -> None:
    key = Key()
    verifier = cotter.Verifier(AUD, jwks=jwks(key))
    claims = verifier.verify(make(key))
    ref = weakref.ref(verifier)
    del verifier
    gc.collect()
    assert ref() is None  # the verifier is really gone...
    assert claims.sub == "user-1" and claims.aud == [AUD] and claims.to_dict()["sub"] == "user-1"  # ...claims not

    c = cotter.Client(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url)
    session = cotter.TokenSession(c, token=cotter.Token.from_dict(emulator.login("parent@example.com")["oauth_token"]))
    tok = session.token()
    v2 = c.verifier()
    users = c.list_users(0)
    del c
    gc.collect()
    new = session.refresh()  # the session's native client is still alive
    del session
    gc.collect()
    assert tok.access_token and new.access_token and tok.to_dict()["access_token"] == tok.access_token
    assert v2.verify(new.access_token).identifier == "parent@example.com"
    assert users and users[0].raw["ID"] == users[0].id


def test_a_session_kept_only_by_its_callback_target_is_collected(emulator: Any, client: cotter.Client) -> None:
    """The session holds its callbacks, not the other way round: no reference cycle keeps it alive forever."""
    seen: List[Any] = []
    session = cotter.TokenSession(client, on_tokens_changed=seen.append)
    session.set_token(cotter.Token.from_dict(emulator.login("cycle@example.com")["oauth_token"]))
    assert seen and seen[-1] is not None
    ref = weakref.ref(session)
    del session
    gc.collect()
    assert ref() is None
