"""Secrets of a slot: keyed fingerprints, the owner from the image's USER, one directory per
set of values, restore after a reboot, and the container arguments that carry them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from soakgate.adapters.stage.engine import AppSpec, run_kwargs
from soakgate.adapters.stage.secret_files import (
    CONTAINER_DIR,
    KEY_FILE,
    fingerprint,
    image_owner,
    remove_secret_files,
    restore_secret_files,
    secret_dir,
    secret_mount,
    write_secret_files,
)
from soakgate.core.names import StageNames
from soakgate.errors import ConfigError

NAMES = StageNames("staging", "t1")


def test_a_fingerprint_is_keyed_stable_and_changes_with_any_value(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    tag = fingerprint(one, {"DB_PASSWORD": "s3cret", "API": "k"})
    assert tag == fingerprint(one, {"API": "k", "DB_PASSWORD": "s3cret"})  # order is not a value
    assert tag != fingerprint(one, {"DB_PASSWORD": "s3cret2", "API": "k"})
    assert tag != fingerprint(two, {"DB_PASSWORD": "s3cret", "API": "k"})  # another key
    assert fingerprint(one, {}) == ""
    assert oct((one / KEY_FILE).stat().st_mode & 0o777) == "0o600"
    assert len(tag) == 16 and "s3cret" not in tag


@pytest.mark.parametrize(
    ("user", "owner"),
    [("", (0, 0)), ("root", (0, 0)), ("10001:10001", (10001, 10001)), ("1000", (1000, 1000))],
)
def test_the_owner_comes_from_the_images_user(user: str, owner: tuple[int, int]) -> None:
    assert image_owner(user) == owner


def test_a_named_user_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="numeric owner") as refused:
        image_owner("app")
    assert refused.value.hint is not None and "UID:GID" in refused.value.hint


def test_each_set_of_values_has_its_directory_and_old_ones_go(tmp_path: Path) -> None:
    old = write_secret_files(NAMES, "blue", {"A": "1"}, owner=None, root=tmp_path, tag="aa")
    new = write_secret_files(NAMES, "blue", {"A": "2"}, owner=None, root=tmp_path, tag="bb")
    (old_dir,), (new_dir,) = old, new
    assert (Path(old_dir) / "A").read_text() == "1"  # the replaced container's stay as they were
    assert (Path(new_dir) / "A").read_text() == "2"
    other = write_secret_files(NAMES, "green", {"A": "g"}, owner=None, root=tmp_path, tag="aa")
    remove_secret_files(NAMES, "blue", tmp_path, keep=Path(new_dir))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [Path(new_dir).name, Path(next(iter(other))).name]
    )
    assert secret_dir(NAMES, "blue", tmp_path, "bb") == Path(new_dir)


def test_files_a_reboot_took_are_written_again_once(tmp_path: Path) -> None:
    directory = tmp_path / "t1-staging-blue-aa"
    assert restore_secret_files(directory, {"A": "1"}, owner=None) is True
    assert (directory / "A").read_text() == "1"
    assert oct(directory.stat().st_mode & 0o777) == "0o500"
    assert restore_secret_files(directory, {"A": "1"}, owner=None) is False


def test_the_mount_is_found_in_a_containers_inspect() -> None:
    data = {
        "Mounts": [
            {"Destination": "/etc/x", "Source": "/a"},
            {"Destination": CONTAINER_DIR, "Source": "/dev/shm/soakgate/t1-staging-blue-aa"},
        ]
    }
    assert secret_mount(data) == Path("/dev/shm/soakgate/t1-staging-blue-aa")
    assert secret_mount({"Mounts": None}) is None


def test_secrets_are_a_mount_never_an_environment_variable(tmp_path: Path) -> None:
    spec = AppSpec(envs={"MODE": "x"}, secrets_tag="aa")
    volumes = write_secret_files(NAMES, "blue", {"DB": "s3cret"}, owner=None, root=tmp_path)
    kwargs = run_kwargs(NAMES, "blue", "sha256:" + "a" * 64, spec, "t1-app-staging-blue", volumes)
    assert kwargs["volumes"] == volumes
    assert "s3cret" not in repr(kwargs["environment"]) and "DB" not in kwargs["environment"]
    assert "volumes" not in run_kwargs(NAMES, "blue", "sha256:" + "a" * 64, spec, "n")


def test_the_spec_hash_holds_the_fingerprint_only_when_there_are_secrets() -> None:
    plain = AppSpec()
    assert AppSpec(secrets_tag="").spec_hash() == plain.spec_hash()  # no redeploy on upgrade
    assert AppSpec(secrets_tag="aa").spec_hash() != plain.spec_hash()
    assert AppSpec(secrets_tag="aa").spec_hash() != AppSpec(secrets_tag="bb").spec_hash()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to the container's user needs root")
def test_restored_files_belong_to_the_containers_user(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    restore_secret_files(directory, {"A": "1"}, owner=(10001, 10001))
    assert (directory.stat().st_uid, (directory / "A").stat().st_uid) == (10001, 10001)
