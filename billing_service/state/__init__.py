"""What the service keeps between requests: today, the card-testing limits' counters.

- ``counters``: the in-process fixed-window counter storage (``memory://``).

May import ``config`` and ``gateway`` only: nothing of Flask or the HTTP side.
"""
