import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Everything loaded so far (Django, the apps, DRF's serializer classes: ~140k objects)
# lives as long as the worker: out of the cyclic collector's way, so that a full
# collection walks only what requests left behind. Without it, one request in ~13 of an
# API claim list paid a 130-260 ms gen-2 collection (docs/performance.md, issue 13).
gc.freeze()
