"""The retention engine (rules, legal holds, batched purges). No Flask imports."""
