"""Every package RunnerHub installs is pinned: requirements.txt names the direct dependencies at
one version each, and constraints.txt pins those and everything they pull in, so that CI, `make`
and the image install the same tree."""
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for requirement in _requirements(path):
        specs = list(requirement.specifier)
        pinned = len(specs) == 1 and specs[0].operator == "=="
        assert pinned, f"{path.name}: {requirement} is not pinned to one version"
        pins[canonicalize_name(requirement.name)] = specs[0].version
    return pins


def test_every_direct_dependency_is_pinned_and_constrained_at_the_same_version():
    direct = _pins(ROOT / "requirements.txt")
    constrained = _pins(ROOT / "constraints.txt")
    assert {name: constrained.get(name) for name in direct} == direct


def test_the_constraints_pin_every_package_the_requirements_pull_in():
    constrained = _pins(ROOT / "constraints.txt")
    missing: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r.name, frozenset(r.extras)) for r in _requirements(ROOT / "requirements.txt")]
    while todo:
        name, extras = todo.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        if canonicalize_name(name) not in constrained:
            missing.add(name)
            continue
        for text in metadata.requires(name) or []:
            dependency = Requirement(text)
            wanted = dependency.marker is None or any(
                dependency.marker.evaluate({"extra": extra}) for extra in extras or {""}
            )
            if wanted:
                todo.append((dependency.name, frozenset(dependency.extras)))
    assert not missing, f"installed but not in constraints.txt: {sorted(missing)}"


def test_the_installed_versions_are_the_pinned_ones():
    constrained = _pins(ROOT / "constraints.txt")
    installed = {name: metadata.version(name) for name in constrained}
    assert installed == constrained
