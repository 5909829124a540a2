"""`just bench stack`: the real bot and workers against the emulators, measured."""
