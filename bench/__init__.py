"""Speed and memory, measured: each module is a script run from the project root, e.g.
`.venv/bin/python -m bench.webhook --compare`. What they share with the tests is `harness`."""
