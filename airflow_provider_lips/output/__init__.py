"""Where pulled records land: destinations, atomic writes, one file per day of occurrence."""
