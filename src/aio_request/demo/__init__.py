"""The runnable main job (``python -m aio_request demo``); may use every layer of the library."""
