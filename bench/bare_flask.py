"""The stack's own floor: a bare Flask view posting one issuance through the service's Transport.

``POST /subscriptions/issue-billing`` takes the card fields out of the JSON body (no validation)
and posts them to I'mport's ``POST /subscribe/customers/{customer_uid}`` with
``billing_service.gateway.http.Transport``: the service's own HTTP client (urllib3, one
pool per process sized like the service's, deadline reader) reading I'mport's envelope, with an
access token fetched once per process. No schemas, no limiter, no authentication, no audit, no
metrics, no logging: what is left is Flask, gunicorn and the call itself, which the service
cannot do without. Served by gunicorn with the service's gunicorn.conf.py
(``gunicorn -c gunicorn.conf.py bench.bare_flask:app``), so the service's CPU per issuance can be
put as a ratio to this one.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from flask import Flask, request

from billing_service.gateway.http import Transport
from billing_service.gateway.iamport_v1.envelope import PROVIDER, read_answer

API_URL = os.environ.get("IAMPORT_API_URL", "https://api.iamport.kr")
CREDENTIALS = {
    "imp_key": os.environ.get("IAMPORT_API_KEY", ""),
    "imp_secret": os.environ.get("IAMPORT_API_SECRET", ""),
}
CARD_FIELDS = ("card_number", "expiry", "birth", "pwd_2digit")

transport = Transport(API_URL, read_answer, provider=PROVIDER)
_token: tuple[int, str] | None = None  # (pid, access token): once per process
_token_lock = threading.Lock()

app = Flask(__name__)


def _access_token() -> str:
    global _token
    current = _token
    if current is None or current[0] != os.getpid():
        with _token_lock:
            current = _token
            if current is None or current[0] != os.getpid():
                answer = transport.request("get_token", "POST", "/users/getToken", CREDENTIALS)
                current = _token = (os.getpid(), answer["access_token"])
    return current[1]


@app.post("/subscriptions/issue-billing")
def issue_billing() -> Any:
    body = request.get_json()
    card = {name: body[name] for name in CARD_FIELDS}
    transport.request(
        "issue_billing_key",
        "POST",
        f"/subscribe/customers/{body['customer_uid']}",
        card,
        token=_access_token(),
    )
    return {"status": "success", "message": "Billing has successfully issued"}
