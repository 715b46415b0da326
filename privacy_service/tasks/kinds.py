"""The kinds of task on the queue (a module of its own: what enqueues imports no task body).

Two lanes share the queue's store: what a customer waits for (a contact lookup, which ends in
the code's notice, and the sending of notices) has consumer threads of its own, so a code never
waits behind an export that takes minutes.
"""

EXPORT, ERASURE, IDENTITY, NOTICE = "export", "erasure", "identity", "notice"
KINDS = (EXPORT, ERASURE, IDENTITY, NOTICE)
FAST = (IDENTITY, NOTICE)  # the customer lane; the others run on the bulk lane
