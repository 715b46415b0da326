"""Work every app start repeats with the same inputs, done once per worker (a pytest plugin).

Policy files are parsed and notice templates compiled once per folder and content; each staff
password is hashed once; Werkzeug's URL builder of each route is generated once. Nothing is
replaced: the same functions run, their results are kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
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
    """The service's Argon2id hasher, hashing each password once per worker.

    Staff accounts made for tests share a few passwords; each hash costs ~0.2-0.5 s of CPU (64
    MiB, 3 passes) and a team of four was 2 s of every dashboard test. The hash is the real one
    with the service's parameters; verification (every sign-in) is untouched. Accounts with the
    same password share a salt: no test compares two accounts' hashes.
    """

    def __init__(self, real):
        self._real = real
        self._hashes: dict[str, str] = {}

    def hash(self, password: str, **kwargs) -> str:
        if kwargs:
            return self._real.hash(password, **kwargs)
        if password not in self._hashes:
            self._hashes[password] = self._real.hash(password)
        return self._hashes[password]

    def __getattr__(self, name):
        return getattr(self._real, name)


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
        yield
