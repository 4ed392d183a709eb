"""Billing keys: issue one from card details, look it up, delete it."""
