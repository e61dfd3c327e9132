"""Support for tests that drive the real server over HTTP (gunicorn in its own processes)."""
