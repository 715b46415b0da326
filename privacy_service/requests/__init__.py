"""The data-subject request lifecycle: intake, verification, status, cancellation."""
