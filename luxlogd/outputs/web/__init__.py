"""The web server: the page, the JSON API, Prometheus metrics, health; bounded against abuse."""
