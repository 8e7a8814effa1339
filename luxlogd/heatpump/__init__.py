"""The heat pump: the Luxtronik protocol, the client that reads it, what each value means."""
