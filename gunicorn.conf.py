"""Gunicorn settings for ``make run`` and production (docs/security.md explains each choice).

Worker class: gevent. A thread-per-request worker (sync, gthread) gives each connection a thread
while its request line, headers and body arrive, so a few clients trickling bodies block every
thread. A gevent worker waits for slow sockets in cheap greenlets (``worker_connections`` per
worker) and hands the app a request only as it reads it. In production a reverse proxy that
buffers whole requests (nginx, docs/security.md) sits in front as well.

Override any value on the command line or with ``GUNICORN_CMD_ARGS``; ``WEB_CONCURRENCY`` sets
the number of workers (1 by default: ``make run`` also runs the scheduler in this process).
"""

import os

wsgi_app = "wsgi:app"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:" + os.environ.get("PORT", "8000"))
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_connections = 1000  # open connections per worker, slow ones included

# A worker that stops answering the master's heartbeat for this long is restarted. Under gevent
# slow clients do not count; only code that holds the event loop (a long CPU-bound job) does.
timeout = 120
graceful_timeout = 30  # on reload/stop, requests in flight get this long to finish
keepalive = 5

# Bound what a client can make the server hold before the app sees the request.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# (Bodies are bounded by PRIVACY_MAX_CONTENT_LENGTH, 64 KiB by default, in the app.)

accesslog = "-"
# The access log prints the request line: paths carry request ids, never personal data.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'

# Behind a proxy, gunicorn itself must not trust X-Forwarded-* from anyone; the app decides
# with PRIVACY_TRUSTED_PROXIES (Werkzeug ProxyFix).
forwarded_allow_ips = ""

# Gunicorn's control socket is one path per user: two servers of one user (make run beside a
# test server, two instances on a host) would contend for it, and nothing here uses it.
control_socket_disable = True
