"""The Chromium fixtures of the dashboard tests, shared by every browser test module."""

from tests.browser.test_dashboard import browser, page  # noqa: F401
