"""The benchmark of issue 5: the service against the floor and a seed-literal implementation."""
