"""A non-editable install carries what it runs on: the migrations and the shipped policies.

The wheel is built from a copy of the source tree (setuptools' ``build/`` folder would otherwise
keep files a move left behind), installed with ``--no-deps`` into a folder of its own, and run
from another folder with the project's virtualenv supplying the dependencies. ``python -S``
skips the virtualenv's ``.pth`` files, so the editable install's hook cannot put the source
tree back on the path: whatever the command finds, it finds inside the wheel.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig

import pytest
from alembic.script import ScriptDirectory

from privacy_service.migrate import alembic_config

# What a source checkout holds that is no part of the package.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "instance", "*.egg-info", "__pycache__", "test-artifacts"
)


@pytest.mark.slow
def test_a_wheel_install_upgrades_the_database_and_loads_the_shipped_policies(repo_root, tmp_path):
    source, site, elsewhere = tmp_path / "source", tmp_path / "site", tmp_path / "elsewhere"
    shutil.copytree(repo_root, source, ignore=NOT_SOURCE)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # No dependencies: the virtualenv has them, and the wheel alone is under test.
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        [*pip, "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", source], check=True
    )
    (wheel,) = (tmp_path / "dist").glob("privacy_service-*.whl")
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        [*pip, "install", "-q", "--no-deps", "--target", site, wheel], check=True
    )
    shutil.rmtree(source)  # nothing may come from the tree the wheel was built from
    elsewhere.mkdir()

    database = elsewhere / "privacy.db"
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]]),
        "PRIVACY_DATABASE_URL": f"sqlite:///{database}",
        "PRIVACY_INSTANCE_DIR": str(elsewhere / "instance"),
    }

    def privacy(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-S", "-m", "privacy_service.cli", *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    upgraded = privacy("db", "upgrade")  # the app starts, so the shipped policies loaded
    with sqlite3.connect(database) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert f"database at revision {revision}" in upgraded
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert revision == head, "the wheel carries every migration of the source tree"

    settings = privacy("config")
    policies = next(line for line in settings.splitlines() if "policies_dir" in line)
    assert str(site) in policies, "the default policies are the installed package's"
    assert str(repo_root) not in upgraded + settings
