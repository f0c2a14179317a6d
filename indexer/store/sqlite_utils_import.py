"""`sqlite_utils`, imported without the pandas it would load.

sqlite-utils imports pandas at import time when it is installed (only to map pandas' column types,
which the catalog never uses). pandas arrives with the `milvus` extra (pymilvus needs it), and then
every writer start paid about a second and 70 MB for it. The import here hides pandas from
sqlite-utils alone: under the interpreter's import lock, so no other thread's import of pandas
(pymilvus on another thread) can see it hidden; an already imported pandas is simply reused.
"""

from __future__ import annotations

import sys


def import_sqlite_utils():  # noqa: ANN201 - the sqlite_utils module
    """The `sqlite_utils` module, imported (once) with pandas hidden unless pandas is loaded already."""
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        import sqlite_utils

        return sqlite_utils
    import _imp

    _imp.acquire_lock()  # other threads' imports wait; this thread's (reentrant) go on
    try:
        sys.modules["pandas"] = None  # `import pandas` raises ImportError, which sqlite-utils expects
        try:
            import sqlite_utils
        finally:
            del sys.modules["pandas"]
    finally:
        _imp.release_lock()
    return sqlite_utils
