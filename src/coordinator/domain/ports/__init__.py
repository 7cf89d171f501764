"""Ports: the small protocols the domain needs from the outside world, one module per area."""
