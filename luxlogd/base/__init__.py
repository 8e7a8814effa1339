"""Leaf helpers every layer may use: errors and exit codes, atomic files, time, text."""
