"""The seed example's server side, taken literally, as the benchmark's baseline.

The seed (I'mport's "REST API 이용하기" guide) handles ``POST /subscriptions/issue-billing`` by
extracting the card fields from the body, asking ``POST /users/getToken`` for a fresh token, and
posting the card to ``POST /subscribe/customers/{customer_uid}`` with the raw token in
``Authorization``; ``code == 0`` is success. This is that, in Flask with requests: a new token
for every request, a new connection for every call (``requests.post``, no Session), no validation
beyond taking the fields out. Only the timeouts are added (the seed's axios has none), so a stuck
call cannot hang the benchmark; they cost nothing while the sandbox answers.

Served by gunicorn with the service's own gunicorn.conf.py
(``gunicorn -c gunicorn.conf.py bench.seed_literal:app``), so only the implementation differs
(the settings' worker hooks start the service's event consumer and readiness checks only in an
app that has them).
"""

from __future__ import annotations

import os
from typing import Any

import requests
from flask import Flask, request

API_URL = os.environ.get("IAMPORT_API_URL", "https://api.iamport.kr").rstrip("/")
IMP_KEY = os.environ.get("IAMPORT_API_KEY", "")
IMP_SECRET = os.environ.get("IAMPORT_API_SECRET", "")
TIMEOUT = (3.0, 30.0)

app = Flask(__name__)


@app.post("/subscriptions/issue-billing")
def issue_billing() -> Any:
    try:
        body = request.get_json(silent=True) if request.is_json else request.form
        card_number = body["card_number"]
        expiry = body["expiry"]
        birth = body["birth"]
        pwd_2digit = body["pwd_2digit"]
        customer_uid = body["customer_uid"]

        # 인증 토큰 발급 받기: a fresh token, on a new connection
        get_token = requests.post(
            f"{API_URL}/users/getToken",
            headers={"Content-Type": "application/json"},
            json={"imp_key": IMP_KEY, "imp_secret": IMP_SECRET},
            timeout=TIMEOUT,
        )
        access_token = get_token.json()["response"]["access_token"]

        # 빌링키 발급 요청: another new connection
        issue_billing = requests.post(
            f"{API_URL}/subscribe/customers/{customer_uid}",
            headers={"Authorization": access_token},
            json={
                "card_number": card_number,
                "expiry": expiry,
                "birth": birth,
                "pwd_2digit": pwd_2digit,
            },
            timeout=TIMEOUT,
        )
        data = issue_billing.json()
        if data["code"] == 0:
            return {"status": "success", "message": "Billing has successfully issued"}
        return {"status": "failed", "message": data["message"]}
    except Exception as exc:  # the seed: res.status(400).send(e)
        return {"status": "failed", "message": str(exc)}, 400
