"""PEP 440 version ordering with the standard library only (``packaging`` is not allowed in core).

parse_version("1.0rc1") < parse_version("1.0") < parse_version("1.0.post1")   # True
canonical_name("Jinja2")                                                      # "jinja2"

Only ordering is implemented (what advisory range checks need), not specifiers.
"""

from __future__ import annotations

import re
from functools import total_ordering

# The pattern of PEP 440, appendix B (also what ``packaging`` uses), without the legacy forms.
_PATTERN = re.compile(
    r"""
    ^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$
    """,
    re.VERBOSE | re.IGNORECASE,
)
_PRE_ORDER = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}

Key = tuple[object, ...]


@total_ordering
class Version:
    """A parsed PEP 440 version; compares like ``packaging.version.Version``."""

    __slots__ = ("_key", "text")

    def __init__(self, text: str) -> None:
        match = _PATTERN.match(text)
        if not match:
            raise ValueError(f"not a PEP 440 version: {text!r}")
        self.text = text
        self._key = _key(match)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key == other._key

    def __lt__(self, other: Version) -> bool:
        return self._key < other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def _key(match: re.Match[str]) -> Key:
    release = [int(part) for part in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    has_post = match["post"] is not None
    has_dev = match["dev"] is not None
    # Pre-release: a dev-only version (1.0.dev1) sorts before every pre-release of it (1.0a1);
    # a final release sorts after all its pre-releases.
    if match["pre"] is not None:
        pre: Key = (1, _PRE_ORDER[match["pre_l"].lower()], int(match["pre_n"] or 0))
    elif has_dev and not has_post:
        pre = (0, 0, 0)
    else:
        pre = (2, 0, 0)
    post: Key = (1, int(match["post_n1"] or match["post_n2"] or 0)) if has_post else (0, 0)
    dev: Key = (0, int(match["dev_n"] or 0)) if has_dev else (1, 0)
    local: Key = ()
    if match["local"]:
        # Numeric segments sort after alphanumeric ones (PEP 440).
        local = tuple(
            (1, int(part), "") if part.isdigit() else (0, 0, part.lower())
            for part in re.split(r"[-_.]", match["local"])
        )
    return (int(match["epoch"] or 0), tuple(release), pre, post, dev, local)


def parse_version(text: str) -> Version:
    """Parse ``text`` as a PEP 440 version; ``ValueError`` when it is not one."""
    return Version(text)


def is_valid_version(text: str) -> bool:
    return _PATTERN.match(text) is not None


def canonical_name(name: str) -> str:
    """The PEP 503 normalized name of a distribution: ``Jinja2`` → ``jinja2``, ``a_b`` → ``a-b``."""
    return re.sub(r"[-_.]+", "-", name).lower()
