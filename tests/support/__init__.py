"""What the tests share besides fixtures: building an app on a fresh database (`app`), driving it like a browser
(`web`), and the secrets-never-leak watch (`leaks`). Fixtures live in tests/conftest.py, which imports these."""
