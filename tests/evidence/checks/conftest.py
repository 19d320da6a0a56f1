"""The checks mark messages with gettext_noop, which reads settings.USE_I18N.

Under pytest-django DJANGO_SETTINGS_MODULE is set before this file is imported; when the
checks are tested on their own (``-p no:django``) a minimal configuration is enough.
"""

import os

from django.conf import settings

if not settings.configured and "DJANGO_SETTINGS_MODULE" not in os.environ:
    settings.configure(USE_I18N=True)
