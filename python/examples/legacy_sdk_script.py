"""A script written for Cotter's original Python SDK runs unchanged on this package."""
from __future__ import annotations

import os
from typing import Any, Dict

import cotter
from cotter import tokenhandler, validate

API_KEY = os.environ.get("COTTER_API_KEY_ID", "")


def login_and_store() -> Dict[str, Any]:
    response = cotter.login_with_email_otp(API_KEY, 8080)
    tokenhandler.store_token_to_file(response["oauth_token"], "cottertoken.json")
    return response


def claims_from_file() -> Dict[str, Any]:
    oauth_token = tokenhandler.get_token_from_file("cottertoken.json", API_KEY)
    return validate.validate_access_token(oauth_token["access_token"], API_KEY)


if __name__ == "__main__":
    print(claims_from_file().get("identifier"))
