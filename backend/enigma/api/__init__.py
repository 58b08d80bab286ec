"""The HTTP service: REST API, SSE streams and the web page."""
