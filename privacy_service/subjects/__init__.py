"""Data subjects (the shop's customers): found by contact through blind indexes."""
