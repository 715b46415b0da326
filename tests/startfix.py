"""Work every app start repeats with the same inputs, done once per worker (a pytest plugin).

Policy files are parsed and notice templates compiled once per folder and content; each staff
password is hashed once and each (hash, password) pair verified once; Werkzeug's URL builder of
each route is generated once; each page template is compiled once. Nothing is replaced: the same
functions run, their results are kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from jinja2 import BytecodeCache
from werkzeug.routing.rules import Rule

from privacy_service import app as app_module
from privacy_service.notices.templates import PACKAGE_TEMPLATES
from privacy_service.policies import POLICY_DEFAULTS, SHIPPED_POLICIES
from privacy_service.team import accounts


def _files_of(*folders: Path) -> tuple:
    """Every file under ``folders`` with its size and modification time (what a cache keys on)."""
    return tuple(
        (str(path), stat.st_size, stat.st_mtime_ns)
        for folder in folders
        if folder.is_dir()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and (stat := path.stat())
    )


def _policies_once(load):
    """``load_policies``, parsing each folder once per worker until one of its files changes.

    ``Policies`` is immutable (frozen dataclasses all the way down), so apps may share one.
    A folder that fails to load fails again at every start, as without the cache.
    """
    loaded = {}

    def cached(policies_dir):
        folder = Path(policies_dir).resolve()
        key = (folder, _files_of(folder, SHIPPED_POLICIES, POLICY_DEFAULTS))
        if key not in loaded:
            loaded[key] = load(policies_dir)
        return loaded[key]

    return cached


def _notice_texts_once(texts_class):
    """``NoticeTexts``, one (with its compiled templates) per folder, files and labels.

    ``configure_notices`` still renders every template at each start; Jinja reloads a template
    whose file changed.
    """
    made = {}

    def cached(policies_dir=None, labels=None):
        override = Path(policies_dir) / "notices" if policies_dir else Path("-")
        key = (str(policies_dir), _files_of(override, PACKAGE_TEMPLATES), repr(labels))
        if key not in made:
            made[key] = texts_class(policies_dir, labels=labels)
        return made[key]

    return cached


class OneHashPerPassword:
    """The service's Argon2id hasher, hashing each password and checking each pair once per worker.

    Staff accounts made for tests share a few passwords; each hash costs ~0.2-0.5 s of CPU (64
    MiB, 3 passes) and a team of four was 2 s of every dashboard test. The hash is the real one
    with the service's parameters; accounts with the same password share a salt (no test
    compares two accounts' hashes). A sign-in verifies with the real Argon2id the first time a
    (hash, password) pair is seen; the same pair again gets the same answer, or the same error
    raised anew, without the 0.2 s of CPU (a fifth of the fast tests' CPU went there). Every
    call still reaches this object: tests that count verifications count the same.
    """

    def __init__(self, real):
        self._real = real
        self._hashes: dict[str, str] = {}
        self._checked: dict[tuple[str, str], BaseException | None] = {}

    def hash(self, password: str, **kwargs) -> str:
        if kwargs:
            return self._real.hash(password, **kwargs)
        if password not in self._hashes:
            self._hashes[password] = self._real.hash(password)
        return self._hashes[password]

    def verify(self, hash, password) -> bool:
        key = (hash, password)
        if key not in self._checked:
            try:
                self._real.verify(hash, password)
                self._checked[key] = None
            except Exception as exc:  # VerifyMismatchError, InvalidHashError, ...
                self._checked[key] = exc
        error = self._checked[key]
        if error is not None:
            raise type(error)(*error.args)
        return True

    def __getattr__(self, name):
        return getattr(self._real, name)


class TemplatesOnce(BytecodeCache):
    """Jinja's bytecode cache in memory, shared by the worker's apps.

    Each app has its own Jinja environment and compiled every page template it rendered again
    (~10 ms each). Jinja keys a template's code by name and file and checks it against the
    source's checksum: an edited template is compiled again.
    """

    def __init__(self):
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self._code:
            bucket.bytecode_from_string(self._code[bucket.key])

    def dump_bytecode(self, bucket):
        self._code[bucket.key] = bucket.bytecode_to_string()


def _templates_once(create_environment):
    """``Flask.create_jinja_environment``, with the worker's bytecode cache."""
    cache = TemplatesOnce()

    def created(app):
        env = create_environment(app)
        env.bytecode_cache = cache
        return env

    return created


def _builders_once(compile_builder):
    """``Rule._compile_builder``, generating each route's URL builder once per worker.

    Every app binds its ~80 routes, and Werkzeug writes, compiles and executes Python source
    for two builders of each (~25 ms of every app start). A builder is a function of the rule's
    parsed parts only (it reads ``self``'s converters when called), so rules with the same text
    and parts share one. Rules with defaults (resolved to constants in the builder) are built
    as usual.
    """
    made = {}

    def cached(rule, append_unknown=True):
        if rule.defaults:
            return compile_builder(rule, append_unknown)
        key = (rule.rule, tuple(rule._trace), append_unknown)
        if key not in made:
            made[key] = compile_builder(rule, append_unknown)
        return made[key]

    return cached


@pytest.fixture(scope="session", autouse=True)
def start_up_once():
    """Work every app start repeats with the same inputs, done once per worker (see above)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app_module, "load_policies", _policies_once(app_module.load_policies))
        patch.setattr(app_module, "NoticeTexts", _notice_texts_once(app_module.NoticeTexts))
        patch.setattr(accounts, "_hasher", OneHashPerPassword(accounts._hasher))
        patch.setattr(Rule, "_compile_builder", _builders_once(Rule._compile_builder))
        patch.setattr(
            Flask, "create_jinja_environment", _templates_once(Flask.create_jinja_environment)
        )
        yield
