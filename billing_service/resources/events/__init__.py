"""The signed events sent to internal services: the failed ones listed, and re-sent."""
