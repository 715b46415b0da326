"""The layers hold when the code runs, not only in the import contract (make lint).

A fresh interpreter imports the core, exports and retention (and the jobs that drive them) and
must not have loaded a web framework; the web layer itself does, as a check that the probe sees.
"""

import json
import subprocess
import sys

WEB_FRAMEWORKS = (
    "flask",
    "flask_smorest",
    "flask_limiter",
    "flask_babel",
    "flask_wtf",
    "wtforms",
    "werkzeug",
    "webargs",
)


def _loaded_frameworks(*modules: str) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        f"print(json.dumps(sorted(loaded & set({WEB_FRAMEWORKS!r}))))"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout)


def test_the_core_exports_retention_and_jobs_load_no_web_framework():
    assert (
        _loaded_frameworks(
            "privacy_service",
            "privacy_service.models",
            "privacy_service.runtime",
            "privacy_service.operations",
            "privacy_service.jobs",
            "privacy_service.policies",
            "privacy_service.notices.outcomes",  # reads the gettext catalogs, with plain Babel
            "exports.worker",
            "exports.delivery",
            "retention.engine",
            "retention.processor",
        )
        == []
    )


def test_the_probe_sees_the_web_layer_load_flask():
    assert "flask" in _loaded_frameworks("privacy_service.web.errors")
