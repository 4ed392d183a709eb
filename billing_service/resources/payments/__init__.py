"""Payments: charging billing keys, looking payments up, cancelling them."""
