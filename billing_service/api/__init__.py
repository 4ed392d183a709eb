"""What every resource shares on the HTTP side.

- ``blueprint``: the flask-smorest ``Api`` and ``Blueprint`` every resource uses, each
  operation's error documentation, the HTML-form variants of bodies, Swagger UI's assets;
- ``bodies``: JSON and HTML-form bodies read the same way;
- ``error_kinds``: the error registry (each kind's status, code, message and README's "when");
- ``errors``: the one error envelope, and the one place that turns exceptions into it (and
  says which 5xx are ``retryable``); ``http_errors``: the HTTP errors raised by name;
- ``idempotency``: Idempotency-Key; ``locks``: an order (merchant_uid, imp_uid) is its own lock;
- ``fields``: field types and validators, the path converter of ids;
- ``schemas``: response schemas more than one resource (or an error) answers with;
- ``headers``: headers every answer carries; ``guards``: body size, no card data in URLs;
- ``publisher``: ``EventPublisher``, which turns answers and verified notices into events (the
  payment rendered with the API's schemas) and keeps the follow-up jobs in the outbox.

What the app shares (the gateway client, the state store) comes from ``extensions``.

May import its siblings ``security``, ``observability`` and ``extensions``, and below:
``events``, ``state``, ``config``, ``gateway``. Never ``resources`` or ``app``.
"""
