"""Where raw files come from: a local folder, DANDI, or an archive over HTTP."""

from neuralbench.sources.local import list_files, sha256_file

__all__ = ["list_files", "sha256_file"]
