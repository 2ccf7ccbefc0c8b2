"""Requests a fake server holds on to, so a test can kill a client at an exact step: the
request has arrived and is not yet performed (`after=False`), or is performed and its reply
not yet sent (`after=True`)."""
import re
import threading

HOLD_SECONDS = 60


class Hold:
    def __init__(self, method: str, path_regex: str, after: bool = False) -> None:
        self.method = method.upper()
        self.path = re.compile(path_regex)
        self.after = after
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._perform = True

    def matches(self, method: str, path: str) -> bool:
        return self.method == method.upper() and bool(self.path.fullmatch(path))

    def wait(self) -> bool:
        """Called by the server's handler thread: signal the arrival, wait to be released.
        Returns whether to go on with the request (a held-before request may be dropped)."""
        self.arrived.set()
        self._released.wait(HOLD_SECONDS)
        return self._perform

    def release(self, perform: bool = True) -> None:
        """Let the request go on; `perform=False` drops one held before it was performed, as
        if its client had died before the request was complete."""
        self._perform = perform
        self._released.set()


class Holds:
    """The holds of one fake, each taken by the first request that matches it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: list[Hold] = []

    def add(self, method: str, path_regex: str, after: bool = False) -> Hold:
        hold = Hold(method, path_regex, after)
        with self._lock:
            self._holds.append(hold)
        return hold

    def take(self, method: str, path: str) -> Hold | None:
        with self._lock:
            for hold in self._holds:
                if hold.matches(method, path):
                    self._holds.remove(hold)
                    return hold
        return None

    def release_all(self) -> None:
        with self._lock:
            holds, self._holds = self._holds, []
        for hold in holds:
            hold.release()
