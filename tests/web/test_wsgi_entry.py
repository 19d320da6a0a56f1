"""The WSGI entry point gunicorn's workers load (config/wsgi.py)."""

import gc
import importlib


def test_the_loaded_application_is_moved_out_of_the_cyclic_collectors_way():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        import config.wsgi

        importlib.reload(config.wsgi)
        # what a full collection no longer walks: everything loaded with the application
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
