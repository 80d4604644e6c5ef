"""Where raw files come from: a local folder, DANDI, or an archive over HTTP."""

from neuralbench.sources.dandi import DandiAsset, asset_urls, download_dandi, list_assets
from neuralbench.sources.download import DownloadReport, download, download_recipes
from neuralbench.sources.fetch import FetchOptions, MapJobs, base_url, fetch_file
from neuralbench.sources.http import download_archive, resolve_url, unpack_archive
from neuralbench.sources.local import list_files, sha256_file

__all__ = [
    "DandiAsset",
    "DownloadReport",
    "FetchOptions",
    "MapJobs",
    "asset_urls",
    "base_url",
    "download",
    "download_archive",
    "download_dandi",
    "download_recipes",
    "fetch_file",
    "list_assets",
    "list_files",
    "resolve_url",
    "sha256_file",
    "unpack_archive",
]
