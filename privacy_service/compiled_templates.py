"""Compiled Jinja templates kept for the process: each app of it compiles a template once.

An app compiles its templates when first rendered, into its own Jinja environment. A process
with one app (the service, a worker, the CLI) is unaffected; one that builds many apps (the
test suite builds hundreds, tools) compiled every template again for each: ~8 ms a page, 20 ms
of every start-up for the notices, which are all rendered then. ``MemoryBytecodeCache`` keeps
the compiled code in memory, keyed by template name and file; Jinja checks the source's
checksum on every load, so an edited file is compiled afresh.

One cache per kind of environment (``PAGES``, ``NOTICES``): compiled code depends on the
environment's options and extensions, which are the same for every environment of a kind.
"""

from __future__ import annotations

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class MemoryBytecodeCache(BytecodeCache):
    """Jinja's bytecode, in a dict of this process (the GIL makes each get and set atomic)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        """Fill ``bucket`` with the code kept for it, if any (Jinja drops stale code)."""
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep the code of a template just compiled."""
        self._code[bucket.key] = bucket.bytecode_to_string()

    def clear(self) -> None:
        """Forget every compiled template."""
        self._code.clear()


# The web pages (every app's Flask environment) and the customer notices (sandboxed, plain text).
PAGES = MemoryBytecodeCache()
NOTICES = MemoryBytecodeCache()
