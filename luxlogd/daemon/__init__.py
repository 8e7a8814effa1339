"""The daemon: the poll loop, its schedule, the clock guard, the systemd watchdog."""
