"""Scheduled charges: schedule a key's future charges, look them up, revoke them."""
