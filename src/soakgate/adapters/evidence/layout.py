"""Where a service's package, tests and pins are — in its build context on the host and in its
release's image — as ``soakgate.toml``'s ``[service]`` says.

    layout = ServiceLayout(Path("images/plainsvc"), config.service)
    layout.import_name              # "plainsvc"
    layout.image_package            # "/srv/plainsvc/src/plainsvc" (app_dir / package)
    layout.image_import_root        # "/srv/plainsvc/src": what puts it on sys.path
    layout.test_requirements        # the service's pins, or soakgate's own pytest + coverage
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from soakgate.adapters.images.wheelhouse import pip_pins
from soakgate.adapters.state.evidence import CollectFailed
from soakgate.core.config import ServiceConfig

# soakgate's own pins of pytest and coverage, for a service with test_requirements = "".
TEST_TOOLS_REQUIREMENTS = Path(__file__).with_name("requirements-test-tools.txt")
# Test configuration files at the root of a context that the tests need beside them.
TEST_CONFIG_FILES = ("pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini", "conftest.py")
_SKIPPED = ("__pycache__", ".pytest_cache")


@dataclass(frozen=True)
class ServiceLayout:
    """A service's files: ``context`` on the host, ``service`` from soakgate.toml."""

    context: Path
    service: ServiceConfig

    @property
    def package(self) -> str:
        """The package directory inside the context: "app", "src/plainsvc"."""
        return self.service.package.strip("/")

    @property
    def import_name(self) -> str:
        return self.package.rsplit("/", 1)[-1]

    @property
    def image_package(self) -> str:
        """Where the image holds the package: ``<app_dir>/<package>``."""
        return f"{self.service.app_dir.rstrip('/')}/{self.package}"

    @property
    def image_import_root(self) -> str:
        """The folder that puts the package on ``sys.path`` in the image."""
        return self.image_package.rsplit("/", 1)[0] or "/"

    @property
    def tests(self) -> tuple[str, ...]:
        """The configured test paths, without trailing slashes."""
        return tuple(path.strip("/") for path in self.service.tests)

    @property
    def test_requirements(self) -> Path:
        """The hash-pinned test requirements: the service's, or soakgate's own tools."""
        if self.service.test_requirements:
            return self.context / self.service.test_requirements
        return TEST_TOOLS_REQUIREMENTS

    @property
    def pip_requirements(self) -> Path:
        """The file pinning pip (the images have none): the service's second requirements
        file, else its ``requirements-pip.txt``, else soakgate's own pin."""
        return pip_pins(self.context, dict(enumerate(self.service.requirements)).get(1))

    def config_files(self) -> list[Path]:
        """The test configuration files the context has at its root."""
        return [
            self.context / name for name in TEST_CONFIG_FILES if (self.context / name).is_file()
        ]

    def check(self) -> None:
        """CollectFailed unless the package, every test path and the pins are there."""
        if not (self.context / self.package).is_dir():
            raise CollectFailed(
                f"the service has no package folder {self.package}/ in {self.context}"
                " (service.package in soakgate.toml)"
            )
        for path in self.tests:
            if not (self.context / path).exists():
                raise CollectFailed(
                    f"the service has no {path} in {self.context} (service.tests in soakgate.toml)"
                )
        if not self.test_requirements.is_file():
            raise CollectFailed(
                f"{self.test_requirements} not found (service.test_requirements in soakgate.toml;"
                ' "" lets soakgate supply pytest and coverage)'
            )

    def package_files(self) -> Iterator[Path]:
        """The package's Python files on the host."""
        yield from _python_files(self.context / self.package)

    def test_files(self) -> Iterator[Path]:
        """The tests' Python files on the host."""
        for path in self.tests:
            yield from _python_files(self.context / path)


def _python_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for found in sorted(path.rglob("*.py")):
        if not any(part in _SKIPPED for part in found.relative_to(path).parts):
            yield found


def pins_key(*files: Path) -> str:
    """A short digest of pin files' contents: names a cache folder per pin set, so that two
    services (or two pin sets) never share, and never fight over, one wheel folder."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
