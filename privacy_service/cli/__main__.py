"""``python -m privacy_service.cli``: the ``privacy`` command without its console script."""

from privacy_service.cli import main

main()
