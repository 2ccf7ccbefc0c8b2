"""The practical speed limit of a webhook receiver on this machine.

A raw WSGI app that does the irreducible work of one delivery and nothing else: read the body,
check HMAC-SHA256 over the raw bytes, parse the JSON, pick the pool for `ubuntu-24.04-riscv`, and
apply queued/completed to Redis in one EVALSHA. No framework, no logging, no mapping table.
Benchmark RunnerHub against it side by side, same gunicorn settings, same client, same moment,
and report the ratio: absolute figures drift on a shared machine, the ratio does not.

    SECRET=... REDIS_URL=redis://127.0.0.1:PORT/0 ENVP=staging \
        gunicorn bench.limit_app:app -w 2 -b 127.0.0.1:8112  # from the project root

GET /health answers "ok" with no work: the HTTP ceiling of the same server.
"""
import hashlib
import hmac
import json
import os
import time

import redis

SECRET = os.environ["SECRET"].encode()
ENV = os.environ.get("ENVP", "staging")
POOL = "scw-em-rv1"
r = redis.Redis.from_url(os.environ["REDIS_URL"])
script = r.register_script(
    """
local st = redis.call('HGET', KEYS[1], 'status')
if ARGV[1] == 'queued' then
  if st then return 0 end
  redis.call('HSET', KEYS[1], 'status','pending','job_id',ARGV[2],'entity_id',ARGV[3],'k8s_pool',ARGV[4],'created_at',ARGV[5])
  redis.call('SADD', KEYS[2], ARGV[2])
  return 1
elseif ARGV[1] == 'completed' then
  redis.call('HSET', KEYS[1], 'status','completed','job_id',ARGV[2],'entity_id',ARGV[3],'k8s_pool',ARGV[4])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
)


def app(environ, start_response):
    if environ["PATH_INFO"] == "/health":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, environ.get("HTTP_X_HUB_SIGNATURE_256", "")):
        start_response("401 Unauthorized", [])
        return [b"invalid signature"]
    payload = json.loads(body)
    job, repo = payload["workflow_job"], payload["repository"]
    if [label.lower() for label in job.get("labels") or []] != ["ubuntu-24.04-riscv"]:
        start_response("200 OK", [])
        return [b"ignored"]
    owner = repo["owner"]
    entity_id = owner["id"] if owner["type"] == "Organization" else repo["id"]
    script(
        keys=[f"{ENV}:job:{job['id']}", f"{ENV}:pool:{entity_id}:{POOL}:jobs"],
        args=[payload["action"], job["id"], entity_id, POOL, time.time()],
    )
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
