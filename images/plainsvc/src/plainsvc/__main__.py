"""``python -m plainsvc``: serve on $PORT (9090)."""

from plainsvc.server import main

if __name__ == "__main__":
    main()
