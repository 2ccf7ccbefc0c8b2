"""gunicorn settings for `gunicorn runnerhub.wsgi`; each can be overridden on the command line."""
from runnerhub.env import env_int, env_str

# Read like every other setting, so that NAME_FILE works here too.
bind = f"{env_str('BIND_HOST', '0.0.0.0')}:{env_int('PORT', 8080, minimum=1)}"
workers = env_int("WEB_CONCURRENCY", 2, minimum=1)

# Slow or stuck clients must not starve GitHub's deliveries. A sync worker serves one connection
# at a time and blocks reading it, so as many clients as there are workers that trickle their
# headers (or connect and send nothing) stop the webhook until the worker is killed at `timeout`.
# A threaded worker blocks one thread per such client instead, and accepts a connection only
# while it has a thread free for it (worker_connections = threads): a connection is never queued
# behind slow ones in a worker whose threads are all taken, the kernel hands it to a worker with
# room. So it takes workers x threads stalled clients at once to hold up a delivery. A delivery
# is a few milliseconds of CPU around one Redis round trip; threads cost little with the GIL.
# In production a buffering proxy in front (TLS termination) absorbs slow clients entirely.
worker_class = "gthread"
threads = env_int("GUNICORN_THREADS", 8, minimum=1)
worker_connections = threads
# Kept-alive idle connections would hold those slots, and GitHub opens a connection per
# delivery anyway: every response closes its connection. A connection that sends nothing is
# given up after 5 s (gunicorn's wait for a request's first bytes).
keepalive = 0
# The worker's heartbeat: with threads it stops only when the whole process is stuck, since
# each request is bounded by Redis's socket timeouts (1 s connect, 2 s reply).
timeout = 30
graceful_timeout = 20
# Every delivery is in the deliveries stream (and logged at DEBUG with its id); the access log
# would only repeat it.
accesslog = None
errorlog = "-"
# TLS ends at the proxy in front; trust its X-Forwarded-* headers only from where it runs.
forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS", "127.0.0.1")
