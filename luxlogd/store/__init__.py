"""Where polls live: the write-ahead log, the SQLite store, its writer and its readers."""
