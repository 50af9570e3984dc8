"""The one frozen settings object, read from `DEALSTREAM_*` environment variables at the edge."""

from workers.settings.errors import SettingsError
from workers.settings.settings import Settings

__all__ = ["Settings", "SettingsError"]
