"""Interrupt-safe training: the first Ctrl-C (or SIGTERM) asks the trainer to stop at the next step."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from stable_baselines3.common.callbacks import BaseCallback
from tqdm import tqdm


class StopFlag(BaseCallback):
    """Ends SB3's ``learn`` at the next env step once :attr:`requested` is set (by the signal handler); other
    training loops read :attr:`requested` themselves."""

    def __init__(self) -> None:
        super().__init__()
        self.requested = False

    def _on_step(self) -> bool:
        return not self.requested


@contextlib.contextmanager
def graceful_interrupts(flag: StopFlag) -> Iterator[None]:
    """First SIGINT/SIGTERM sets ``flag``; a second SIGINT raises ``KeyboardInterrupt`` at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if flag.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.requested = True
        tqdm.write("\ninterrupt: stopping at the next step and saving a checkpoint (Ctrl-C again to stop now)",
                   file=sys.stderr)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
