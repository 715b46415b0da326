"""On-demand background work on a task queue (Huey): exports, erasures, identity lookups.

* ``queue``: the Huey instance from settings (SQLite file by default, Redis in production).
* ``dispatch``: work that a transaction makes due is enqueued once that transaction commits.
* ``work``: the task bodies; database claims stay the guard, so a duplicate task is a no-op.
* ``sweeper``: re-enqueues due work whose task went missing (crash between commit and enqueue,
  a worker killed mid-task).
* ``failures``: failed tasks as the privacy team sees them, and the retry they can ask for.
"""
