"""The integration suite's fixtures live in ``tests/conftest.py`` (the fault suite shares
them, so the releases are built once per session)."""
