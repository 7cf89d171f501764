"""Domain logic: competition lifecycle, scoring and payouts. No I/O, no HTTP."""
