"""Who may call, how often, and the record of what they did.

- ``callers``: caller keys (``Authorization: Bearer``) and scopes per operation;
- ``card_testing``: the card-testing limits (per caller, customer, card; refusals);
- ``audit``: the audit trail, one line per operation.

May import its siblings ``api`` and ``observability``, and below: ``state``, ``config``,
``gateway``. Never ``resources`` or ``app``.
"""
