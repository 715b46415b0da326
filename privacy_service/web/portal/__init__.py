"""The customer's pages ("request my data") at /: submit, verify, follow, download, cancel."""
