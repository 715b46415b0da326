"""The export assembler (streaming ZIP, formats, storage). No Flask imports."""
