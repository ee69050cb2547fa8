"""The exercises: declarative specs in one registry keyed by id."""
