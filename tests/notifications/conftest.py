"""The compiled zh-hans catalogue check of the page tests, for the e-mails' language."""

from tests.web.conftest import zh_catalogue  # noqa: F401
