"""How the daemon tells how it is: the status file, counters, the diary, journal logging."""
