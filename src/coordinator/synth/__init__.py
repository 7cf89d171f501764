"""The synthetic monitor: a whole competition lifecycle run against a deployment, timed."""
