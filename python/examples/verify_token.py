"""Verify a Cotter access token in a web backend (static or remote JWKS)."""
from __future__ import annotations

import sys

import cotter


def user_of(verifier: cotter.Verifier, authorization: str) -> str:
    """Returns the Cotter user id of a request's bearer token, or raises cotter.JWTError."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise cotter.InvalidArgument("expected a bearer token")
    claims: cotter.Claims = verifier.verify(token)
    if claims.scope != "access":
        raise cotter.InvalidArgument("not an access token")
    return claims.sub or ""


def main(argv: list[str]) -> int:
    verifier = cotter.Verifier(argv[1], jwks_url=argv[2])
    try:
        print(user_of(verifier, "Bearer " + argv[3]))
    except cotter.JWTError as e:
        print(f"rejected: {e.code}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
