"""Service status: liveness and readiness, without auth."""
