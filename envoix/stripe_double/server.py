"""The double's HTTP side: one keep-alive server for /v1, /oauth and /_double, with faults and a request log."""
import json
import socket
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import api, control, marketplace, oauth
from .state import StripeError
from .webhooks import API_VERSION

FAULT_KINDS = ("latency", "500", "503", "429", "drop", "malformed", "timeout")
SERVER_ERRORS = {
    "500": "An unknown error occurred while processing your request.",
    "503": "Stripe is temporarily unavailable. Please try again later.",
}
RATE_LIMITED = ("Request rate limit exceeded. You can learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.")


class Fault:
    def __init__(self, match, kind, times=1, seconds=None, should_retry=None, when_query=None):
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, not {kind!r}")
        self.match, self.kind, self.times = match, str(kind), times
        self.seconds = (5.0 if kind == "timeout" else 0.0) if seconds is None else float(seconds)
        self.should_retry = should_retry
        self.when_query = dict(when_query or {})

    def applies(self, path, query):
        if self.times is not None and self.times <= 0:
            return False
        if self.match != "*" and not path.startswith(self.match):
            return False
        return all(str(value) in query.get(name, []) for name, value in self.when_query.items())


class Faults:
    """Faults in the order they were added; each request takes the first that matches and uses one of its times."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, match, kind, times=1, **params):
        fault = Fault(match, kind, times, **params)
        with self.lock:
            self.items.append(fault)

    def clear(self):
        with self.lock:
            self.items.clear()

    def take(self, path, query):
        with self.lock:
            for fault in self.items:
                if fault.applies(path, query):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address, double):
        self.double = double
        self.open_connections = set()
        self.handler_threads = set()
        self.tracking = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request, client_address):
        # Like ThreadingMixIn's, but remembering the threads so close() can wait for them.
        thread = threading.Thread(target=self._handle_tracked, args=(request, client_address), daemon=True)
        with self.tracking:
            self.handler_threads.add(thread)
        thread.start()

    def _handle_tracked(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.tracking:
                self.handler_threads.discard(threading.current_thread())


class Running:
    """A started server: its URL, and close() that leaves no thread or socket behind."""

    def __init__(self, httpd, thread):
        self.httpd, self.thread = httpd, thread
        host, port = httpd.server_address[:2]
        self.url = f"http://{host}:{port}"

    def close(self):
        self.httpd.shutdown()
        self.thread.join(5)
        with self.httpd.tracking:
            connections, threads = list(self.httpd.open_connections), list(self.httpd.handler_threads)
        for connection in connections:  # idle keep-alive connections would otherwise hold their threads
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(5)
        self.httpd.server_close()


def serve(double, host="127.0.0.1", port=0):
    httpd = HTTPServer((host, port), double)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                              name=f"stripe-double:{httpd.server_address[1]}")
    thread.start()
    return Running(httpd, thread)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections end after this long
    server_version = "stripe-double"
    sys_version = ""
    # Headers and body leave in one segment: split writes meet Nagle and delayed ACKs, 40 ms a request.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def setup(self):
        super().setup()
        with self.server.tracking:
            self.server.open_connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.tracking:
                self.server.open_connections.discard(self.connection)

    def log_message(self, format, *args):
        pass  # the request log is `double.requests`; stderr stays quiet for tests and benchmarks

    def do_GET(self):
        self._serve()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def _serve(self):
        double = self.server.double
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query, keep_blank_values=True)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            if path.startswith("/_double/"):
                status, payload = control.handle(double, self.command, path, query, body)
                return self._send(status, payload)
            form = {}
            if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
                form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            entry = {"method": self.command, "path": path, "query": query, "headers": dict(self.headers.items()),
                     "form": form, "time_start": time.time(), "time_end": None, "status": None}
            double.requests.append(entry)
            status, payload, headers = self._answer(double, path, query, form)
            if status is None:
                return self._drop(entry)
            double.sleep(double.latency)
            entry["status"] = status  # before sending: a client may look at the log as soon as it has the answer
            self._send(status, payload, headers)
            entry["time_end"] = time.time()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True  # the client gave up (e.g. its timeout fired during a fault)

    def _answer(self, double, path, query, form):
        """(status, body, headers) for a Stripe request, faults first; status None means drop the connection."""
        state = double.state  # the state of the test that asked, even if a slow answer outlives it
        fault = double.faults.take(path, query)
        if fault is not None:
            if fault.kind == "drop":
                return None, None, {}
            if fault.kind in ("latency", "timeout"):
                double.sleep(fault.seconds)
                if double.state is not state:
                    return None, None, {}  # reset meanwhile: its test is over, nobody waits for this answer
            else:
                return _fault_answer(fault)
        try:
            with state.lock:
                answer = _dispatch(state, self.command, path, query, form, self.headers)
            return answer if len(answer) == 3 else (*answer, {})
        except StripeError as error:
            return error.status, error.body, error.headers
        except Exception:  # a bug in the double: say so in Stripe's shape rather than hang the client
            traceback.print_exc(file=sys.stderr)
            return 500, {"error": {"type": "api_error", "message": "The Stripe double failed: see its stderr."}}, {}

    def _drop(self, entry):
        # No status line, no body: the client sees the connection end, as with a network fault.
        self.close_connection = True
        entry["status"], entry["time_end"] = "dropped", time.time()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, status, payload, headers=None):
        headers = dict(headers or {})
        if status in (301, 302, 303):
            data = b""
            headers["Location"] = payload
        elif isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:14]}")
        self.send_header("Stripe-Version", API_VERSION)
        if data or status not in (301, 302, 303):
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _dispatch(state, method, path, query, form, headers):
    single = {name: values[-1] for name, values in form.items()}
    if path == "/v1/oauth/token" and method == "POST":
        return marketplace.token(state, single, headers)
    if path.startswith("/v1/apps/installs"):
        return marketplace.installs(state, method, path, headers)
    if path.startswith("/oauth/v2/") and path.endswith("/authorize"):
        status, payload = marketplace.authorize(state, {**query, **form}, method)
        return (status, payload, {"Content-Type": "text/html; charset=utf-8"}) if status == 200 else (status, payload)
    if path.startswith("/v1/"):
        return api.handle(state, method, path, query, headers)
    if (method, path) == ("GET", "/oauth/authorize"):
        return oauth.authorize(state, query)
    if (method, path) == ("POST", "/oauth/token"):
        return oauth.token(state, single, headers)
    if (method, path) == ("POST", "/oauth/deauthorize"):
        return oauth.deauthorize(state, single, headers)
    raise api.unrecognized(method, path)


def _fault_answer(fault):
    if fault.kind == "malformed":
        return 200, b'{"object": "list", "data": [{"id": "txn_', {}
    if fault.kind == "429":
        should_retry = True if fault.should_retry is None else fault.should_retry
        body = {"error": {"type": "invalid_request_error", "code": "rate_limit", "message": RATE_LIMITED}}
        return 429, body, {"Stripe-Should-Retry": "true" if should_retry else "false"}
    headers = {} if fault.should_retry is None else {"Stripe-Should-Retry": "true" if fault.should_retry else "false"}
    return int(fault.kind), {"error": {"type": "api_error", "message": SERVER_ERRORS[fault.kind]}}, headers
