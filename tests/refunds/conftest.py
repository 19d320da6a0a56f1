import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english():
    """Service messages are asserted in English here; pages test both languages."""
    with translation.override("en"):
        yield
