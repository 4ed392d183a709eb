"""The provider's payment notices: I'mport's (unsigned) and PortOne V2's (signed) webhooks,
trusted only after asking the provider (``portone``: what each V2 type makes the service do)."""
