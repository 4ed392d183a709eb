"""Who may call, how often, and the record of what they did.

- ``callers``: caller keys (``Authorization: Bearer``) and scopes per operation (``@requires``);
- ``card_testing``: the card-testing limits (per caller, customer, card; refusals), declared on
  the views that spend them (``@limited``);
- ``audit``: the audit trail, one line per operation;
- ``signatures``: PortOne V2's webhook signatures (Standard Webhooks), checked against our
  secrets.

May import its siblings ``api``, ``observability`` and ``extensions``, and below: ``state``,
``config``, ``gateway``. Never ``resources`` or ``app``.
"""
