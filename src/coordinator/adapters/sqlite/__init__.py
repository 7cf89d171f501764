"""SQLite persistence: one serialized writer per database, a pool of readers, yoyo migrations."""
