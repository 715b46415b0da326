"""The kinds of task on the queue (a module of its own: what enqueues imports no task body)."""

EXPORT, ERASURE, IDENTITY = "export", "erasure", "identity"
KINDS = (EXPORT, ERASURE, IDENTITY)
