"""Keys typed while the focus moves: held in order, then taken as if just arrived.

The App hands each key, as it arrives, to the widget focused at that moment, whose
own queue handles it later. When a key moves the focus from further down that path
(Enter/Esc in the query bar: the field handles it, the bar tells the App by a
message; a dialog gets its focus as it mounts), the keys right behind it (a fast
typist, a paste, a laggy link) would reach the old focus or none. So from such a
key until the new focus is in place the App keeps the keys that arrive, in order,
then takes them as if they had just arrived. One place keeps them all: letting
the old focus pass its queued keys on would race with the keys the App hands the
new focus directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from textual import events
from textual.app import App
from textual.screen import Screen, ScreenResultCallbackType

from klogtui.ui.widgets.query_bar import QueryInput

__all__ = ["HeldKeys"]

_ResultT = TypeVar("_ResultT")  # what a dialog returns


class HeldKeys:
    """The keys an app holds across a change of focus.

    Args:
        app: the app; its `on_event` hands its keys to `on_key`.
    """

    def __init__(self, app: App[Any]) -> None:
        self._app = app
        self._held: list[events.Key] | None = None

    async def on_key(
        self, event: events.Key, dispatch: Callable[[events.Event], Awaitable[None]]
    ) -> None:
        """Hold a key that arrives while the focus moves; else `dispatch` it (App's own).

        Enter/Esc handed to the query field start holding until the bar answers
        (the app's `on_query_bar_*` handlers call `release`).
        """
        if self._held is not None:
            self._held.append(event)
            return
        focused = self._app.focused
        await dispatch(event)
        if isinstance(focused, QueryInput) and event.key in ("enter", "escape"):
            if event.is_forwarded:  # to the field: until the bar answers (on_query_bar_*)
                self._held = []

    async def release(self) -> None:
        """The new focus is in place: take the held keys as if they had just arrived."""
        held, self._held = self._held or [], None
        for key in held:
            await self._app.on_event(key)  # may hold the rest again (another Enter, a dialog)

    def open_dialog(
        self, screen: Screen[_ResultT], callback: ScreenResultCallbackType[_ResultT] | None = None
    ) -> None:
        """Push `screen`, keeping the keys typed behind the one that opened it until it
        has its focus (`t` then `q` at once: q is typed in the time field)."""
        if self._held is None:
            self._held = []
        self._app.push_screen(screen, callback)
        # The dialog composes, mounts and takes its focus before it reads its queue;
        # the release then goes to the App's queue behind any focus change it asked for.
        # After its first refresh: a field typed into before that was painted empty.
        screen.call_after_refresh(self._app.call_later, self.release)
