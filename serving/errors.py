"""RestError: a request's answer other than 200, `{"error": message}` with an HTTP status (and
headers, e.g. Retry-After), raised wherever a request is read, checked or run (serving/models.py,
limits.py, rest.py, server.py) and written out by server.py's `make_app`."""


class RestError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}
