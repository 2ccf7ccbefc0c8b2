"""gunicorn settings for `gunicorn runnerhub.wsgi`; each can be overridden on the command line."""
import os

bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
# A delivery is one Redis round trip; anything near this is a stuck worker, not a slow one.
timeout = 30
graceful_timeout = 20
keepalive = 2
# Django logs one line per delivery with its id; the access log would only repeat it.
accesslog = None
errorlog = "-"
# TLS ends at the proxy in front; trust its X-Forwarded-* headers only from where it runs.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
