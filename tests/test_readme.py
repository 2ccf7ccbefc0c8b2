"""The README's configuration tables: every variable RunnerHub reads, each with the minimum the
settings enforce, so that neither the code nor the table can move without the other."""
import ast
import re
import runpy
from pathlib import Path

import pytest

from runnerhub import env

ROOT = Path(__file__).resolve().parent.parent
# Where RunnerHub's own code is; os.environ read directly here, not through runnerhub/env.py, is
# what the typed helpers cannot record.
SOURCES = ("runnerhub", "webhooks", "reports", "runners", "gunicorn.conf.py", "manage.py")


def read_through_helpers() -> dict[str, float | None]:
    """The names the settings and gunicorn.conf.py ask runnerhub/env.py for, with their minimum:
    both are loaded again here, so that what other tests read does not count."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(env, "READ", {})
        for path in ("runnerhub/settings.py", "gunicorn.conf.py"):
            runpy.run_path(str(ROOT / path))
        return env.READ


def read_from_os_environ() -> set[str]:
    """The names the code reads with os.environ.get, os.environ[...] or os.getenv."""
    names = set()
    for source in SOURCES:
        path = ROOT / source
        for file in [path] if path.is_file() else path.rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.Call) and ast.unparse(node.func) in (
                    "os.environ.get", "os.getenv"
                ):  # fmt: skip
                    key = node.args[0] if node.args else None
                elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                    key = node.slice
                else:
                    continue
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    names.add(key.value)
    return names


def documented() -> dict[str, str]:
    """The Configuration section's table rows: each variable's name to its Minimum cell."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    headers = re.findall(r"^\| Variable \|.*$", section, re.M)
    assert headers and set(headers) == {"| Variable | Default | Minimum | Meaning |"}
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|[^|\n]*\|([^|\n]*)\|", section, re.M)
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), "a variable has two rows"
    return {name: minimum.strip().strip("`") for name, minimum in rows}


def test_the_tables_name_every_variable_the_code_reads_and_no_other() -> None:
    read = set(read_through_helpers()) | read_from_os_environ()
    table = set(documented())

    assert not read - table, f"read but not in the README's table: {sorted(read - table)}"
    assert not table - read, f"in the README's table but never read: {sorted(table - read)}"


def test_each_documented_minimum_is_the_one_the_settings_enforce() -> None:
    enforced = {name: "—" if low is None else low for name, low in read_through_helpers().items()}
    enforced |= dict.fromkeys(read_from_os_environ(), "—")  # text, never a number
    table = {name: cell if cell == "—" else float(cell) for name, cell in documented().items()}

    shared = enforced.keys() & table.keys()  # the test above names the others
    assert {name: table[name] for name in shared} == {name: enforced[name] for name in shared}
