"""privacy-service: data-subject requests for a Chinese cross-border shop.

Importing the package starts nothing and loads no web framework: the application is built by
``privacy_service.app.create_app``; the domain lives in the sub-packages (docs/architecture.md).
"""

__version__ = "0.1.0"
