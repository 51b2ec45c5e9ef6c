import pytest


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Documents of the links the helpers make go to a temporary folder."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT
