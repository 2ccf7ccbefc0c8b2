"""What the tests, the benchmarks (`bench/`) and the screenshot scripts (`docs/`) share: real
redis-server and gunicorn processes, signed deliveries and GitHub's example payloads, test
data, the fake GitHub and Kubernetes with the world that plays the runners, load on loopback,
and headless Chromium. Everything imports it as `harness.…` from the project root."""
