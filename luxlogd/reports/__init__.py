"""What is made of stored polls: roll-ups, CSV reports, exports, statistics, clean-up."""
