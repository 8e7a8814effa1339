"""A simulated Luxtronik controller and heat pump (for the demo, the tests and doctor)."""
