"""What the daemon serves while it polls: MQTT, the web server, Prometheus metrics."""
