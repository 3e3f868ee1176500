"""The model hub: fetching a repository's files into the local hub cache, and where the fixed
prompt's embedding of a hub model is cached.

Loading (`pipeline.loading`) and loading by name (`runtime`) both fetch from the hub; here
neither needs the other, and nothing here imports a pipeline.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from patchvsr.errors import PatchVSRError
from patchvsr.models.configs import PROMPT, WAN_HUB_ID

__all__ = ["download", "download_wan", "prompt_cache_path"]


def download(repo_id: str, patterns: list[str]) -> Path:
    """These files of a hub repository, in the local hub cache."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as err:  # offline, unknown id, no network: one line for the user
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise PatchVSRError(
            f"cannot fetch {repo_id} from the model hub{offline}: {type(err).__name__}"
        ) from err


def download_wan() -> Path:
    """Wan2.1-T2V-1.3B without its 11 GB text encoder unless the prompt embedding it gives
    is not cached yet (its config.json, the cache key, is always fetched)."""
    parts = ["model_index.json", "transformer/*", "vae/*", "text_encoder/config.json"]
    folder = download(WAN_HUB_ID, parts)
    if not prompt_cache_path(folder).exists():
        folder = download(WAN_HUB_ID, parts + ["text_encoder/*", "tokenizer/*"])
    return folder


def prompt_cache_path(folder: Path, text: str = PROMPT) -> Path:
    """Where the embedding of `text` (default: the fixed prompt) by the text encoder of `folder`
    is cached: keyed by the encoder's config.json (which the hub download always fetches) and
    the text."""
    config = folder / "text_encoder" / "config.json"
    key = hashlib.sha256((config.read_bytes() if config.exists() else b"") + text.encode())
    root = Path(os.environ.get("PATCHVSR_CACHE", Path.home() / ".cache" / "patchvsr"))
    return root / f"prompt-{key.hexdigest()[:16]}.safetensors"
