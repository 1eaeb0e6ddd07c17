"""Prometheus metrics: names, the collector that reads monitors at scrape time, the HTTP server."""
