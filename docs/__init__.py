"""The README's screenshots and the scripts that take them, run from the project root:
`make screenshots`, or `.venv/bin/python -m docs.reports_screenshots`."""
