"""The readiness check's decisions as data: which wheel installs on 3.14 (and on 3.14t), the
verdict on one package, blockers through the dependency graph, go / no-go per group, the
requirement file's marks, the Markdown and JSON, and the index pages' parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soakgate.adapters.readiness import read_wanted
from soakgate.adapters.readiness.index import index_location, parse_html_page, parse_json_page
from soakgate.core.readiness import (
    NO,
    REQUIRED,
    VERIFY,
    YES,
    Assessment,
    IndexFile,
    Metadata,
    ReadinessInputError,
    Target,
    Wanted,
    applicable,
    build_report,
    choose,
    decide,
    dependencies,
    file_kind,
    judge,
    parse_marks,
    parse_metadata,
    parse_pyproject,
    parse_requirements,
    parse_target,
    propagate,
    python_classifiers,
    report_document,
    report_markdown,
)
from soakgate.errors import ConfigError

PY314 = Target(14)
PY314T = Target(14, free_threaded=True)
LINUX = "manylinux_2_17_x86_64.manylinux2014_x86_64"


def files(*names: str, requires_python: str | None = None) -> list[IndexFile]:
    return [IndexFile(n, f"https://index.test/{n}", requires_python) for n in names]


def wanted(spec: str, **marks: str) -> Wanted:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    return Wanted(canonicalize_name(Requirement(spec).name), spec, **marks)


def verdict(spec: str, listed: list[IndexFile], target: Target = PY314) -> Assessment:
    return judge(choose(wanted(spec), listed, target), None, target)


# --- the target -------------------------------------------------------------------------------


def test_parse_target() -> None:
    assert parse_target("3.14") == Target(14, False, "manylinux_x86_64")
    assert parse_target("3.14t").free_threaded
    assert parse_target("3.14", True, "win_amd64") == Target(14, True, "win_amd64")
    assert parse_target("3.14", True).abi == "cp314t"
    for bad in ("3", "3.x", "2.7", "3.14.1", ""):
        with pytest.raises(ReadinessInputError, match="--python"):
            parse_target(bad)
    with pytest.raises(ReadinessInputError, match="--platform"):
        parse_target("3.14", platform="linux x86")


@pytest.mark.parametrize(
    ("filename", "kind", "threaded"),
    [
        (f"a-1-cp314-cp314-{LINUX}.whl", "native", None),
        (f"a-1-cp314-cp314t-{LINUX}.whl", None, "native"),
        (f"a-1-cp39-abi3-{LINUX}.whl", "abi3", None),  # abi3 does not load on cp314t
        (f"a-1-cp314-abi3-{LINUX}.whl", "abi3", None),
        ("a-1-cp315-abi3-manylinux_2_28_x86_64.whl", None, None),  # built for a later ABI
        (f"a-1-cp313-cp313-{LINUX}.whl", None, None),
        ("a-1-cp315-cp315-manylinux_2_28_x86_64.whl", None, None),
        ("a-1-py3-none-any.whl", "pure", "pure"),
        ("a-1-py2.py3-none-any.whl", "pure", "pure"),
        ("a-1-py315-none-any.whl", None, None),
        ("a-1-py3-none-manylinux_2_17_x86_64.whl", "platform", "platform"),
        ("a-1-cp314-cp314-win_amd64.whl", None, None),  # another platform
        ("a-1-cp314-cp314-manylinux_2_28_aarch64.whl", None, None),
        ("a-1-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", None, None),
        ("a-1.tar.gz", "sdist", "sdist"),
        ("a-1.exe", None, None),
        ("not-a-wheel.whl", None, None),
    ],
)
def test_file_kind(filename: str, kind: str | None, threaded: str | None) -> None:
    assert file_kind(filename, PY314) == kind
    assert file_kind(filename, PY314T) == threaded


def test_platforms_of_one_family_and_architecture_fit() -> None:
    target = Target(14, platform="macosx_arm64")
    assert file_kind("a-1-cp314-cp314-macosx_11_0_arm64.whl", target) == "native"
    assert file_kind("a-1-cp314-cp314-macosx_10_13_universal2.whl", target) == "native"
    assert file_kind("a-1-cp314-cp314-macosx_10_13_x86_64.whl", target) is None
    assert file_kind("a-1-cp314-cp314-win_amd64.whl", Target(14, platform="win_amd64"))


# --- one package ------------------------------------------------------------------------------


def test_pinned_version_with_a_cp314_wheel_is_yes() -> None:
    one = verdict(
        "numpy==2.3.0",
        files(f"numpy-2.3.0-cp314-cp314-{LINUX}.whl", f"numpy-2.4.0-cp314-cp314-{LINUX}.whl"),
    )
    assert (one.verdict, one.version, one.kind, one.abi3) == (YES, "2.3.0", "native", False)
    assert (one.pinned, one.newest, one.installable) == ("2.3.0", "2.4.0", "2.4.0")


def test_abi3_and_pure_wheels_count() -> None:
    abi3 = verdict("cryptography==44.0.0", files(f"cryptography-44.0.0-cp39-abi3-{LINUX}.whl"))
    assert (abi3.verdict, abi3.abi3) == (YES, True)
    pure = verdict("attrs==24.2.0", files("attrs-24.2.0-py3-none-any.whl"))
    assert (pure.verdict, pure.kind) == (YES, "pure")


def test_only_a_newer_version_with_a_wheel_is_verify_naming_it() -> None:
    listed = files(
        f"torch-2.5.1-cp312-cp312-{LINUX}.whl",
        f"torch-2.9.0-cp314-cp314-{LINUX}.whl",
        f"torch-2.9.0-cp314-cp314t-{LINUX}.whl",
        f"torch-3.0.0rc1-cp314-cp314-{LINUX}.whl",  # a pre-release is not proposed
    )
    one = verdict("torch==2.5.1", listed)
    assert one.verdict == VERIFY and one.attention  # a dependent's pin must move too
    assert one.reason == "upgrade to 2.9.0 (cp314 wheel)"
    assert (one.version, one.installable, one.newest, one.free_threaded_wheel) == (
        "2.9.0",
        "2.9.0",
        "2.9.0",
        True,
    )


def test_unpinned_takes_the_newest_allowed_version() -> None:
    listed = files("a-1.0-py3-none-any.whl", f"a-2.0-cp312-cp312-{LINUX}.whl")
    fallback = verdict("a", listed)  # newest 2.0 has no wheel for 3.14: pip takes 1.0
    assert (fallback.verdict, fallback.version, fallback.attention) == (VERIFY, "1.0", False)
    assert fallback.reason == (
        "newest allowed 2.0 has no cp314 wheel; pip would install 1.0 (pure wheel)"
    )
    one = verdict("a<2", listed)
    assert (one.verdict, one.version) == (YES, "1.0")
    later = verdict("a<2", files(f"a-1.0-cp312-cp312-{LINUX}.whl", "a-2.0-py3-none-any.whl"))
    assert later.verdict == VERIFY and "outside <2" in later.reason


def test_sdist_only_is_verify_built_from_source() -> None:
    one = verdict("legacy==1.0", files("legacy-1.0.tar.gz"))
    assert one.verdict == VERIFY and "builds from source" in one.reason and one.kind == "sdist"
    assert one.attention  # what depends on it needs a build too


def test_nothing_that_installs_is_no_and_says_what_there_is() -> None:
    built = files(f"old-1.0-cp311-cp311-{LINUX}.whl", f"old-1.0-cp312-cp312-{LINUX}.whl")
    one = verdict("old==1.0", built)
    assert one.verdict == NO
    assert one.reason == "no wheel for cp314 on manylinux_x86_64 (1.0 has cp311, cp312 wheels)"
    assert verdict("ghost==1.0", []).reason == "not on the index"


def test_requires_python_excludes() -> None:
    everywhere = verdict("a==1.0", files("a-1.0-py3-none-any.whl", requires_python="<3.14"))
    assert everywhere.verdict == NO and "Requires-Python <3.14 excludes 3.14" in everywhere.reason
    listed = [
        *files("a-1.0-py3-none-any.whl", requires_python=">=3.8,<3.14"),
        *files("a-2.0-py3-none-any.whl", requires_python=">=3.10"),
    ]
    one = verdict("a==1.0", listed)
    assert (one.verdict, one.version, one.requires_python) == (VERIFY, "2.0", ">=3.10")


def test_yanked_files_count_only_when_pinned() -> None:
    listed = [
        IndexFile("a-1.0-py3-none-any.whl", "u", yanked=True),
        IndexFile("a-0.9-py3-none-any.whl", "u"),
    ]
    assert verdict("a==1.0", listed).verdict == YES
    assert verdict("a", listed).version == "0.9"


def test_free_threaded_needs_cp314t_for_a_c_extension() -> None:
    abi3 = files(f"ext-1.0-cp39-abi3-{LINUX}.whl")
    assert verdict("ext==1.0", abi3, PY314).verdict == YES
    no = verdict("ext==1.0", abi3, PY314T)
    assert no.verdict == NO and "only abi3 wheels" in no.reason
    built = verdict("ext==1.0", [*abi3, *files("ext-1.0.tar.gz")], PY314T)
    assert built.verdict == VERIFY and "builds from source" in built.reason
    threaded = files(f"ext-1.0-cp314-cp314-{LINUX}.whl", f"ext-1.0-cp314-cp314t-{LINUX}.whl")
    one = verdict("ext==1.0", threaded, PY314T)
    assert (one.verdict, one.kind, one.free_threaded_wheel) == (YES, "native", True)
    assert verdict("pure==1.0", files("pure-1.0-py3-none-any.whl"), PY314T).verdict == YES


def test_classifiers_of_a_pure_wheel() -> None:
    listed = files("a-1.0-py3-none-any.whl")
    choice = choose(wanted("a==1.0"), listed, PY314)
    old = Metadata(classifiers=("Programming Language :: Python :: 3.12",))
    assert judge(choice, old, PY314).verdict == VERIFY
    assert "classifiers stop at 3.12" in judge(choice, old, PY314).reason
    new = Metadata(classifiers=tuple(f"Programming Language :: Python :: 3.{m}" for m in (9, 14)))
    assert judge(choice, new, PY314).python_classifiers == ("3.9", "3.14")
    assert judge(choice, new, PY314).verdict == YES
    assert judge(choice, Metadata(), PY314).verdict == YES  # no version claimed: no doubt
    assert judge(choice, None, PY314).python_classifiers is None
    native = choose(wanted("b==1"), files(f"b-1-cp314-cp314-{LINUX}.whl"), PY314)
    assert judge(native, old, PY314).verdict == YES  # a cp314 wheel is its own claim
    excluded = judge(choice, Metadata(requires_python="<3.14"), PY314)
    assert excluded.verdict == NO and "Requires-Python <3.14" in excluded.reason


def test_parse_metadata_and_classifiers() -> None:
    data = (
        b"Metadata-Version: 2.1\nName: a\nVersion: 1.0\nRequires-Python: >=3.9\n"
        b"Classifier: Programming Language :: Python :: 3.13\n"
        b"Classifier: Programming Language :: Python :: 3.9\n"
        b"Classifier: Programming Language :: Python :: 3 :: Only\n"
        b"Requires-Dist: b>=1\nRequires-Dist: c; extra == 'x'\n\nlong description\n"
    )
    metadata = parse_metadata(data)
    assert metadata.requires_dist == ("b>=1", "c; extra == 'x'")
    assert metadata.requires_python == ">=3.9"
    assert python_classifiers(metadata.classifiers) == ("3.9", "3.13")


def test_dependencies_apply_markers_for_the_target_and_extras() -> None:
    metadata = Metadata(
        requires_dist=(
            "old-backport; python_version < '3.13'",
            "tomli (>=1.1) ; python_version < '3.11'",
            "typing-extensions>=4; python_version >= '3.13'",
            "pywin32; sys_platform == 'win32'",
            "Torch>=2.0; extra == 'torch'",
            "direct @ https://example.invalid/direct.whl",
            "b (>=1,<3)",
        )
    )
    assert [w.spec for w in dependencies(metadata, PY314)] == ["typing-extensions>=4", "b<3,>=1"]
    with_torch = dependencies(metadata, PY314, extras=["torch"])
    assert "torch>=2.0" in [w.spec for w in with_torch]


# --- the graph and the decision ---------------------------------------------------------------


def assessed(name: str, verdict: str, *requires: str, **more: object) -> Assessment:
    return Assessment(name, name, verdict, f"{name}'s own reason", requires=requires, **more)  # type: ignore[arg-type]


def test_a_no_blocks_what_depends_on_it() -> None:
    result = {
        a.name: a
        for a in propagate(
            [
                assessed("transformers", YES, "torch>=2", "tokenizers"),
                assessed("torch", NO),
                assessed("tokenizers", YES),
                assessed("app", YES, "mid"),
                assessed("mid", YES, "blocked"),
                assessed("blocked", NO),
                assessed("loop-a", YES, "loop-b"),
                assessed("loop-b", YES, "loop-a"),
            ]
        )
    }
    assert (result["transformers"].verdict, result["transformers"].reason) == (
        NO,
        "because of torch",
    )
    assert result["transformers"].blocked_by == ("torch",)
    assert result["app"].reason == "because of blocked (via mid)"
    assert result["mid"].reason == "because of blocked"
    assert result["torch"].reason == "torch's own reason"  # a blocker keeps its own reason
    assert result["tokenizers"].verdict == YES and result["loop-a"].verdict == YES


def test_a_dependency_built_from_source_or_upgraded_makes_verify() -> None:
    result = {
        a.name: a
        for a in propagate(
            [
                assessed("pydantic", YES, "pydantic-core==2.27.2"),
                Assessment(
                    "pydantic-core",
                    "pydantic-core==2.27.2",
                    VERIFY,
                    "upgrade to 2.41.0",
                    attention=True,
                ),
                assessed("fastapi", VERIFY, "pydantic"),
                assessed("quiet", YES, "stale"),
                assessed("stale", VERIFY),  # classifiers only: nothing to pass on
            ]
        )
    }
    assert result["pydantic"].verdict == VERIFY
    assert result["pydantic"].reason == "because of pydantic-core==2.27.2: upgrade to 2.41.0"
    assert result["fastapi"].reason == (
        "because of pydantic-core==2.27.2 (via pydantic): upgrade to 2.41.0;"
        " and fastapi's own reason"
    )
    assert result["quiet"].verdict == YES


def test_go_no_go_per_group_and_for_the_migration() -> None:
    packages = [
        assessed("fastapi", YES),
        assessed("redis", VERIFY),
        assessed("torch", NO, priority="high", group="ml"),
        assessed("transformers", YES, group="ml"),
        assessed("neo4j", YES, group="graph"),
        assessed("deep-dependency", NO, dependency_of="fastapi"),  # counted through fastapi
    ]
    decision = decide(packages)
    assert decision.go and decision.line == "GO, deferring group ml"
    lines = {g.group: g.line for g in decision.groups}
    assert lines[REQUIRED] == "GO: required — all Yes/Verify (1 Yes, 1 Verify) → proceed"
    assert lines["ml"] == "NO-GO: ml — torch (high priority) No → defer"
    assert lines["graph"] == "GO: graph — all Yes/Verify (1 Yes) → proceed"
    assert decision.deferred == ("ml",)

    stopped = decide([*packages, assessed("uvicorn", NO)])
    assert not stopped.go and stopped.line == "NO-GO: uvicorn No (required)"
    assert decide([assessed("a", YES)]).line == "GO"


def test_build_report_propagates_before_deciding() -> None:
    report = build_report(
        [assessed("api", YES, "core"), assessed("core", NO, dependency_of="api")],
        PY314,
        index="/srv/index",
    )
    assert not report.decision.go
    assert report.decision.line == "NO-GO: api No (required)"
    assert [a.name for a in report.packages] == ["api", "core"]  # own packages first


# --- the requirement file ---------------------------------------------------------------------


def test_parse_requirements_with_marks() -> None:
    text = (
        "# the API\n"
        "fastapi==0.115.6   # priority: high\n"
        "torch==2.5.1  # priority: high; group: ml\n"
        "transformers[torch]==4.47.1  # pinned for the tokenizer; group=ml\n"
        "uvicorn[standard] >= 0.30 ; python_version >= '3.9'\n"
        "numpy==2.1.3 \\\n"
        "    --hash=sha256:abc\n"
        "-r other.txt\n"
        "--index-url https://index.invalid/simple\n"
        "local @ file:///srv/local-1.0.whl#sha256=abc\n"
    )
    parsed = parse_requirements(text, "req.txt")
    by_name = {w.name: w for w in parsed.wanted}
    assert list(by_name) == ["fastapi", "torch", "transformers", "uvicorn", "numpy"]
    assert (by_name["fastapi"].priority, by_name["fastapi"].group) == ("high", None)
    assert (by_name["torch"].priority, by_name["torch"].group) == ("high", "ml")
    assert by_name["transformers"].group == "ml" and by_name["transformers"].source == "req.txt:4"
    assert str(by_name["torch"].pinned) == "2.5.1" and by_name["uvicorn"].pinned is None
    assert by_name["numpy"].spec == "numpy==2.1.3" and by_name["numpy"].source == "req.txt:6"
    assert parsed.includes == ("other.txt",)
    assert parsed.skipped and "local" in parsed.skipped[0]


def test_bad_lines_and_marks_name_the_place() -> None:
    with pytest.raises(ReadinessInputError, match=r"^req.txt:2: not a requirement"):
        parse_requirements("ok==1\nnot a requirement!!\n", "req.txt")
    with pytest.raises(ReadinessInputError, match=r"^req.txt:1: priority should be high"):
        parse_requirements("torch==2.5.1 # priority: urgent\n", "req.txt")
    assert parse_marks("keep; Group: ML; nonsense: x", "w") == (None, "ML")


def test_markers_false_on_the_target_are_left_out_and_duplicates_merged() -> None:
    kept, left_out = applicable(
        [
            wanted("tomli==2.0.1; python_version < '3.11'"),
            wanted("torch==2.5.1"),
            wanted("Torch==2.5.1", priority="high", group="ml"),
        ],
        PY314,
    )
    assert [(w.name, w.priority, w.group) for w in kept] == [("torch", "high", "ml")]
    assert left_out == ["tomli: marker 'python_version < \"3.11\"' is false on 3.14"]


def test_parse_pyproject_extras_are_groups() -> None:
    data = {
        "project": {
            "dependencies": ["fastapi>=0.115", "redis==5.2.1"],
            "optional-dependencies": {"ml": ["torch==2.5.1"]},
        }
    }
    found = parse_pyproject(data, "pyproject.toml")
    assert [(w.name, w.group) for w in found] == [
        ("fastapi", None),
        ("redis", None),
        ("torch", "ml"),
    ]
    with pytest.raises(ReadinessInputError, match=r"dependencies: should be a list"):
        parse_pyproject({"project": {"dependencies": "fastapi"}}, "pyproject.toml")


# --- output -----------------------------------------------------------------------------------


def test_markdown_and_json() -> None:
    report = build_report(
        [
            assessed("fastapi", YES, version="0.115.6", pinned="0.115.6", kind="pure"),
            assessed("torch", NO, priority="high", group="ml"),
            assessed("transformers", YES, "torch", group="ml"),
            assessed("odd|name", YES),
        ],
        PY314,
        index="https://index.test/simple/",
        skipped=["tomli: marker is false"],
    )
    text = report_markdown(report)
    lines = text.splitlines()
    assert lines[0] == "Readiness for Python 3.14 (cp314, manylinux_x86_64)"
    assert lines[2].startswith("| Package | Group | Pinned | Newest | Newest for cp314 | Wheel")
    assert "| fastapi | required | 0.115.6 | - | none | pure | no | - | - | **Yes** |" in text
    assert "| transformers | ml | - | - | none | - | no | no | - | **No** | because of torch |" in (
        text
    )
    assert "odd\\|name" in text  # a pipe does not split the row
    assert "- NO-GO: ml — torch (high priority), transformers No → defer" in lines
    assert lines[-3] == "- Migration: GO, deferring group ml"
    assert lines[-1] == "Left out: tomli: marker is false"

    document = json.loads(json.dumps(report_document(report)))
    assert document["go"] is True and document["decision"] == "GO, deferring group ml"
    torch = next(p for p in document["packages"] if p["name"] == "torch")
    assert (torch["verdict"], torch["priority"], torch["group"]) == (NO, "high", "ml")
    assert next(g for g in document["groups"] if g["group"] == "ml")["blockers"] == [
        "torch",
        "transformers",
    ]


# --- index pages ------------------------------------------------------------------------------


def test_parse_html_page() -> None:
    page = (
        "<!DOCTYPE html><html><body>"
        '<a href="../../files/a-1.0-py3-none-any.whl#sha256=abc" data-requires-python="&gt;=3.8"'
        ' data-core-metadata="sha256=def">a-1.0-py3-none-any.whl</a>'
        '<a href="https://cdn.test/a-0.9.tar.gz" data-yanked="">a-0.9.tar.gz</a>'
        "</body></html>"
    )
    first, second = parse_html_page(page, "https://index.test/simple/a/")
    assert first.url == "https://index.test/files/a-1.0-py3-none-any.whl"
    assert (first.requires_python, first.has_metadata, first.yanked) == (">=3.8", True, False)
    assert first.key == "a-1.0-py3-none-any.whl#sha256=abc"
    assert (second.filename, second.yanked, second.has_metadata) == ("a-0.9.tar.gz", True, False)


def test_parse_json_page() -> None:
    data = {
        "meta": {"api-version": "1.1"},
        "files": [
            {
                "filename": "a-1.0-py3-none-any.whl",
                "url": "../../files/a-1.0-py3-none-any.whl",
                "hashes": {"sha256": "abc"},
                "requires-python": ">=3.10",
                "core-metadata": {"sha256": "def"},
            },
            {"filename": "a-0.9.tar.gz", "url": "a-0.9.tar.gz", "yanked": "broken"},
        ],
    }
    first, second = parse_json_page(data, "https://index.test/simple/a/")
    assert first.url == "https://index.test/files/a-1.0-py3-none-any.whl"
    assert (first.requires_python, first.has_metadata) == (">=3.10", True)
    assert second.yanked and not second.has_metadata


def test_read_wanted_follows_includes_and_names_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("redis==5.2.1\n-r ml.txt\n")
    (tmp_path / "ml.txt").write_text("torch==2.5.1  # group: ml\n-r base.txt\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["fastapi>=0.115"]\n'
    )
    found, skipped = read_wanted([tmp_path / "base.txt", tmp_path / "pyproject.toml"])
    assert [(w.name, w.group) for w in found] == [
        ("redis", None),
        ("fastapi", None),
        ("torch", "ml"),
    ]
    assert skipped == []
    (tmp_path / "bad.txt").write_text("redis==5.2.1\nredis===\n")
    with pytest.raises(ConfigError, match=r"bad.txt:2: not a requirement") as caught:
        read_wanted([tmp_path / "bad.txt"])
    assert caught.value.exit_code == 2
    with pytest.raises(ConfigError, match=r"missing.txt: No such file"):
        read_wanted([tmp_path / "missing.txt"])


def test_index_location_follows_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {"global.index-url": "https://mirror.test/simple", "global.cert": "/ca.pem"}
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    assert index_location(None, settings).where == "https://mirror.test/simple"
    assert index_location(None, settings).cert == "/ca.pem"
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.test/simple")
    assert index_location(None, settings).where == "https://env.test/simple"
    assert index_location("/srv/wheelhouse", settings).where == "/srv/wheelhouse"


def test_base_warnings_name_each_314_base_before_3145() -> None:
    from soakgate.app.readiness import base_warnings

    bases = {
        "soakgate/python:3.14": "3.14.2",
        "other/python:3.14": "3.14.8",
        "soakgate/python:3.12": "3.12.1",
        "broken:3.14": "not-a-version",
    }
    warnings = base_warnings("3.14", lambda: bases)
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: base image soakgate/python:3.14 has Python 3.14.2:")
    assert "older than 3.14.5" in warnings[0] and "soakgate images bases --rebuild" in warnings[0]
    assert base_warnings("3.13", lambda: bases) == []
    assert base_warnings("3.14", dict) == []
