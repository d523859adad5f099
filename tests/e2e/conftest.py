from app.conftest import explorer_run  # noqa: F401  (the same tiny run as the API tests)
