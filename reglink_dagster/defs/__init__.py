"""The reglink asset graph, loaded by `load_from_defs_folder` (dg's defs-folder convention)."""
