"""Deliveries under attack: the slowest answer while the pages or a failing staging are
hammered, against gunicorn with production settings on loopback.

    python -m bench.starvation --attack pages     # 64 clients on /history and the admin login
    python -m bench.starvation --attack staging   # a 64-job matrix forwarded to a staging
                                                  # that drops packets
    python -m bench.starvation --attack pages --unprotected   # the same with the limits lifted,
                                                  # to see what they are for

Starts its own Redis and gunicorn (2 workers from gunicorn.conf.py), fills a history of
--jobs jobs (1 in 100 pending, so the filtered page walks 10,000 of them), starts the attack,
sends --deliveries signed deliveries 4 at a time while it runs, stops the attack and prints
the slowest, p99 and median delivery answers and what the attackers got. Every loop is
bounded and stops by itself.
"""
import argparse
import statistics
import sys
import time

from harness.load import (
    Hammer, admin_logins, fill_history, forwarded_matrix, history_pages, request, timed_deliveries,
)  # fmt: skip
from harness.redis_server import RedisServer
from harness.servers import BlackHole, Gunicorn

STAGING_OWNER = 9_300_000_001


def figures(name: str, timings: list[tuple[int, float]]) -> None:
    seconds = sorted(t for _, t in timings)
    statuses: dict[int, int] = {}
    for status, _ in timings:
        statuses[status] = statuses.get(status, 0) + 1
    p99 = seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))]
    print(
        f"{name}: {len(timings)} deliveries, statuses {statuses}, slowest {seconds[-1] * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, median {statistics.median(seconds) * 1000:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attack", choices=["pages", "staging"], default="pages")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--unprotected", action="store_true",
                        help="lift the page limit and the staging limits (what they are for)")  # fmt: skip
    args = parser.parse_args()

    env = {"LOG_LEVEL": "WARNING"}
    if args.unprotected:
        env.update(PAGE_CONCURRENCY="1000", REPORT_CACHE_SECONDS="0", STAGING_MAX_FORWARDS="1000",
                   STAGING_CONNECT_TIMEOUT_SECONDS="8", STAGING_CIRCUIT_FAILURES="1000000")  # fmt: skip
    hole = BlackHole() if args.attack == "staging" else None
    if hole is not None:
        # Staging by another name than production's own (check runnerhub.E008).
        env.update(STAGING_URL=hole.url("localhost"), ALLOWED_HOSTS="127.0.0.1")
    store = RedisServer().start()
    try:
        with Gunicorn(store.url, workers=2, env=env) as server:
            if hole is not None:
                server.shell(
                    "from webhooks.models import Account; a = Account(github_id="
                    f"{STAGING_OWNER}, login='staging-org', staging=True); a.full_clean(); a.save()"
                )
            fill_history(store.client(), args.jobs)
            started = time.perf_counter()
            status, _, _ = request(server.url, "GET", "/history.json?status=pending&per_page=500")
            print(f"one /history.json?status=pending&per_page=500 over {args.jobs} jobs: "
                  f"{(time.perf_counter() - started) * 1000:.0f} ms ({status})")  # fmt: skip
            figures("quiet", timed_deliveries(server.url, 100))

            if args.attack == "pages":
                logins = max(1, args.clients // 4)
                hammers = [Hammer(args.clients - logins, history_pages(server.url), 100_000),
                           Hammer(logins, admin_logins(server.url), 100_000)]  # fmt: skip
                what = (f"{args.clients - logins} clients on /history.json?status=pending"
                        f"&per_page=… and {logins} on the admin login")  # fmt: skip
            else:
                hammers = [Hammer(args.clients, forwarded_matrix(server.url, STAGING_OWNER), 1_000)]
                what = f"a {args.clients}-job matrix forwarded again and again to a black hole"
            time.sleep(1)  # the attack under way
            timings = timed_deliveries(server.url, args.deliveries)
            got = [dict(hammer.stop()) for hammer in hammers]
            label = "unprotected" if args.unprotected else "protected"
            figures(f"under attack ({what}), {label}", timings)
            print(f"attackers' answers by status: {got}")
    finally:
        store.cleanup()
        if hole is not None:
            hole.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
