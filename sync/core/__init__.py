"""The shared core of `sync`: the program's vocabulary, the cohort configuration, the local store, the
one-writer lock and private files. It imports no wing and no command (only the wire, ``integration``)."""
