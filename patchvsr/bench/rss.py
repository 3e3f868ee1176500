"""Resident memory of this process, from /proc (torch allocations are invisible to tracemalloc).

`PeakTracker` follows the peak over a run and, separately, the peak *growth* during chosen
sections (the denoising steps): at the start of each section it returns freed heap memory to
the kernel and resets the kernel's high-water mark (VmHWM), where the kernel allows it, and it
keeps the overall peak itself across resets.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_bytes() -> int | None:
    """The process's peak resident memory (VmHWM) since start or the last reset."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    import resource  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS; no reset)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def trim_heap() -> None:
    """Hand freed heap memory back to the kernel (glibc's malloc_trim). Without it a section
    reuses what earlier stages freed, and its growth understates what it needs."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class PeakTracker:
    def __init__(self) -> None:
        self.can_reset = reset_peak()
        self.baseline = rss_bytes()  # resident at the start: interpreter, torch, the model
        self._peak = peak_bytes() or 0
        self.section_peak = 0  # largest growth over the RSS at a section's start
        self._section_start: int | None = None

    def begin_section(self) -> None:
        if not self.can_reset:
            return
        self._peak = max(self._peak, peak_bytes() or 0)
        trim_heap()
        reset_peak()
        self._section_start = rss_bytes()

    def end_section(self) -> None:
        if self._section_start is None:
            return
        peak = peak_bytes() or 0
        self.section_peak = max(self.section_peak, peak - self._section_start)
        self._section_start = None

    @property
    def peak(self) -> int:
        return max(self._peak, peak_bytes() or 0)
